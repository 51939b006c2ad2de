//! The committed generated code is what `sim-codegen` writes from the installed botocore.
//! Without botocore (no test venv) it is skipped, unless `CONVOX_REQUIRE_BOTOCORE=1`
//! (scripts/test) makes that a failure.

use std::path::Path;

#[test]
fn generated_wire_matches_the_installed_botocore() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let data = match sim_codegen::find_botocore(&workspace) {
        Ok(d) => d,
        Err(e) if std::env::var("CONVOX_REQUIRE_BOTOCORE").as_deref() != Ok("1") => {
            eprintln!("skipped (set CONVOX_REQUIRE_BOTOCORE=1 to fail instead): {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    for svc in sim_codegen::SERVICES {
        let model = sim_codegen::load(&data, svc).expect("botocore model");
        let fresh = sim_codegen::generate(svc, &model).expect("generate");
        let path = sim_codegen::output_path(&workspace, svc);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            fresh == committed,
            "{} is stale against {}: run `cargo run -p sim-codegen` and commit the result",
            path.display(),
            data.display()
        );
    }
}
