//! Fixtures: a bed with builds, a work dir, a state dir and an inventory ([`Fleet::new`]),
//! and the same fleet already on v1 ([`Fleet::on_v1`]: first rollout asserted).

use crate::bed::Bed;
use crate::builds::Builds;
use crate::inv::Inv;
use crate::runner::{deployctl, Run};
use std::path::{Path, PathBuf};

/// A bed of `n` hosts, the stamped builds, the test's work dir, deployctl's state dir
/// (`work/state`) and the inventory (`work/deploy.toml`, artifact v1).
pub struct Fleet {
    pub bed: Bed,
    pub builds: Builds,
    pub work: tempfile::TempDir,
    pub state: PathBuf,
    pub inv: PathBuf,
}

impl Fleet {
    /// Bed up, builds stamped, inventory written; nothing deployed.
    pub fn new(n: usize, knobs: &Inv) -> Fleet {
        let bed = Bed::up(n);
        if let Some(user) = &knobs.user {
            bed.own_install_dirs(user);
        }
        let builds = Builds::new();
        let work = tempfile::tempdir().unwrap();
        let state = work.path().join("state");
        let inv = bed.inventory(work.path(), &builds.v1, knobs);
        Fleet {
            bed,
            builds,
            work,
            state,
            inv,
        }
    }

    /// [`Fleet::new`], then `rollout --env bed` of v1, which must succeed.
    pub fn on_v1(n: usize, knobs: &Inv) -> Fleet {
        let f = Fleet::new(n, knobs);
        let r = f.run(&["rollout", "--env", "bed"]);
        assert_eq!(r.code, 0, "install v1: {} {}", r.stderr, r.json);
        f
    }

    /// Rewrites the inventory (same path, artifact v1) with other knobs, e.g. config files
    /// written into the work dir first.
    pub fn set_inv(&mut self, knobs: &Inv) {
        self.inv = self.bed.inventory(self.work.path(), &self.builds.v1, knobs);
    }

    /// deployctl with this fleet's inventory and state dir.
    pub fn run(&self, args: &[&str]) -> Run {
        deployctl(&self.inv, &self.state, args)
    }

    /// `rollout --env bed --artifact ART`.
    pub fn rollout(&self, art: &Path) -> Run {
        crate::runner::rollout(&self.inv, &self.state, art)
    }
}
