//! The one way to find a binary of this workspace (hotel-api, deployctl, zdrun): next to the
//! running test executable (`target/<profile>/deps/<test>` -> `target/<profile>/<bin>`),
//! built with cargo when missing. `TESTKIT_BIN_DIR` names another directory.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A binary of the workspace and the package that builds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bin {
    HotelApi,
    Deployctl,
    Zdrun,
}

impl Bin {
    pub fn name(self) -> &'static str {
        match self {
            Bin::HotelApi => "hotel-api",
            Bin::Deployctl => "deployctl",
            Bin::Zdrun => "zdrun",
        }
    }

    fn package(self) -> &'static str {
        match self {
            Bin::Zdrun => "runtime",
            b => b.name(),
        }
    }

    /// Path of the binary, built (once, under cargo's lock) when missing.
    pub fn path(self) -> PathBuf {
        let dir = bin_dir();
        let bin = dir.join(self.name());
        if !bin.is_file() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "-p", self.package(), "--bin", self.name()])
                .current_dir(repo());
            if let Some(target) = dir.parent() {
                cmd.env("CARGO_TARGET_DIR", target);
            }
            let st = cmd.status().expect("run cargo build");
            assert!(st.success(), "cargo build -p {}", self.package());
        }
        assert!(bin.is_file(), "no {} at {}", self.name(), bin.display());
        bin
    }
}

/// `target/<profile>` of the running test executable (or `$TESTKIT_BIN_DIR`).
fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TESTKIT_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("test executable in a directory");
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().unwrap().to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// The workspace root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `hotel-api`.
pub fn hotel_api() -> PathBuf {
    Bin::HotelApi.path()
}

/// `deployctl`.
pub fn deployctl() -> PathBuf {
    Bin::Deployctl.path()
}

/// `zdrun`.
pub fn zdrun() -> PathBuf {
    Bin::Zdrun.path()
}
