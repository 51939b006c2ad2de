//! The state directory: $CONVOX_HOME, else the platform data dir (`…/convox`). It holds the
//! rack store (`racks.db`) and the simulator's state (`sim.db`).

use std::path::PathBuf;

use crate::Fail;

pub const SIM_DB: &str = "sim.db";

pub fn state_dir() -> Result<PathBuf, Fail> {
    if let Some(h) = std::env::var_os("CONVOX_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    dirs::data_dir()
        .map(|d| d.join("convox"))
        .ok_or_else(|| Fail::msg("cannot find a data directory; set CONVOX_HOME"))
}

/// Creates the directory if missing (0700 on Unix when we create it: it holds the rack
/// history with caller ARNs and the simulator's keys).
pub fn ensure_dir(dir: &std::path::Path) -> Result<(), Fail> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Fail::msg(format!("cannot create {}: {e}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}
