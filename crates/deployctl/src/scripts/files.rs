//! Scripts on plain files and directories, shared by several areas, and their parsers.

use super::{none, Script, ScriptError};

pub const REMOVE_TREE: Script = super::script!("remove_tree");

/// [`REMOVE_TREE`]'s answer (nothing).
pub fn parse_remove_tree(out: &str) -> Result<(), ScriptError> {
    none(&REMOVE_TREE, out)
}
