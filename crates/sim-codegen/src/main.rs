//! `cargo run -p sim-codegen [-- --check]`: (re)writes the generated wire from the installed
//! botocore, or with `--check` only says which files are stale (exit status 1).

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let check = std::env::args().skip(1).any(|a| a == "--check");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    match run(&workspace, check) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("sim-codegen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(workspace: &Path, check: bool) -> Result<bool, sim_codegen::Error> {
    let data = sim_codegen::find_botocore(workspace)?;
    let mut fresh = true;
    for svc in sim_codegen::SERVICES {
        let code = sim_codegen::generate(svc, &sim_codegen::load(&data, svc)?)?;
        let path = sim_codegen::output_path(workspace, svc);
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        if old == code {
            continue;
        }
        if check {
            println!("stale: {}", path.display());
            fresh = false;
        } else {
            std::fs::write(&path, code).map_err(|source| sim_codegen::Error::Io {
                path: path.clone(),
                source,
            })?;
            println!("wrote {}", path.display());
        }
    }
    Ok(fresh)
}
