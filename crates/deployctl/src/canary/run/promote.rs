//! The build judged: the sha256 of the running worker image every gray host proves
//! ([`crate::image::check_once`]), read when the windows start and again before a promote. A
//! promote ships exactly those bytes (the artifact must hash to it, [`crate::artifact`]).

use crate::image::{self, Image};
use crate::inventory::Environment;
use crate::remote::{Layout, RemoteHost};

/// The one sha256 every gray host's running worker image proves, or why there is none.
pub async fn judged_sha(env: &Environment, gray: &[&RemoteHost]) -> Result<String, String> {
    if gray.is_empty() {
        return Err("no gray app host to read the judged build from".into());
    }
    let l = Layout::of(env);
    let reads = crate::fleet::futures_join_all(gray.iter().map(|r| {
        let l = &l;
        async move { (r.host.name.clone(), image::check_once(r, env, l).await) }
    }))
    .await;
    let mut shas = vec![];
    for (host, read) in reads {
        match read {
            Ok(Image::Proven(sha)) => shas.push((host, sha)),
            Ok(Image::Script) => {
                return Err(format!(
                    "{host}: the installed binary is a script: its running image cannot be proven"
                ))
            }
            Err(e) => return Err(format!("{host}: running image: {e}")),
        }
    }
    let first = shas[0].1.clone();
    if shas.iter().any(|(_, s)| *s != first) {
        return Err(format!("the gray hosts run different builds: {shas:?}"));
    }
    Ok(first)
}

/// The sha256 to promote: the one judged at the start of the windows, still proven now.
pub async fn still_judged(
    env: &Environment,
    gray: &[&RemoteHost],
    at_start: &Result<String, String>,
) -> Result<String, String> {
    let start = at_start
        .as_ref()
        .map_err(|e| format!("the judged build is unknown ({e})"))?;
    let now = judged_sha(env, gray).await?;
    if &now != start {
        return Err(format!(
            "the gray hosts served {start} during the analysis but run {now} now"
        ));
    }
    Ok(now)
}
