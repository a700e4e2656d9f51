//! POSIX shell quoting for every argument deployctl sends to a remote shell.
//!
//! sshd runs remote commands through the user's login shell, so an argument vector is
//! joined into one string; each word is single-quoted unless it is made only of characters
//! that no POSIX shell interprets.

/// Quote one word so a POSIX shell reads it back unchanged.
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quote every word and join them with spaces: one command line for `sh -c`.
pub fn join<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_plain() {
        assert_eq!(quote("/srv/hotel/hotel-api"), "/srv/hotel/hotel-api");
        assert_eq!(quote("--listen=0.0.0.0:8080"), "--listen=0.0.0.0:8080");
    }

    #[test]
    fn special_words_are_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("a\nb"), "'a\nb'");
        assert_eq!(join(&["echo", "a;b", "*"]), "echo 'a;b' '*'");
    }

    #[test]
    fn a_real_shell_reads_the_words_back_unchanged() {
        let words = [
            "plain",
            "",
            "two words",
            "it's",
            "$HOME",
            "`id`",
            "a\\b",
            "x\ny",
            "*?[",
            "é ü",
        ];
        let script = format!("for w in {}; do printf '%s\\0' \"$w\"; done", join(&words));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let got: Vec<String> = out
            .stdout
            .split(|b| *b == 0)
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect();
        let mut expected: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        expected.push(String::new()); // trailing NUL
        assert_eq!(got, expected);
    }
}
