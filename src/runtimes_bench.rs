//! `vpclab bench`, managed runtimes part: cold and warm invokes of a Python function
//! (awslambdaric) and a Node.js function (aws-lambda-ric) against a Rust one (`net-probe`), in
//! one run, with their ratios. All three run outside any VPC, so the figures are the runtimes'.

use std::{path::Path, time::Duration};

use vpclab_harness::World;

use crate::bench::invocations;

/// Deploys `src/runtimes_bench.yaml` and prints its table.
pub(crate) async fn run() -> anyhow::Result<()> {
    let mut world = World::start().await?;
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtimes_bench.yaml");
    world.deploy_template("runtimes", &template, &[]).await?;
    let outputs = world.outputs()["runtimes"].clone();
    let rust_event = r#"{"probe":"resolve","name":"ifconfig.me","timeout_ms":1000}"#;
    let mut rows = Vec::new();
    for (runtime, key, event) in [
        ("Rust (provided.al2023)", "RustFunctionName", rust_event),
        (
            "Python (python3.12)",
            "PythonFunctionName",
            r#"{"hello":"bench"}"#,
        ),
        (
            "Node.js (nodejs20.x)",
            "NodeFunctionName",
            r#"{"hello":"bench"}"#,
        ),
    ] {
        let (cold, warm) = invocations(&world, &outputs[key], event).await?;
        rows.push((runtime, cold, warm));
    }
    world.shutdown().await?;
    print_table(&rows);
    Ok(())
}

fn print_table(rows: &[(&str, Duration, Duration)]) {
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let (_, rust_cold, rust_warm) = rows[0];
    println!(
        "\n| runtime | cold invoke (median of 5) | warm invoke (median of 5) | cold / Rust | warm / Rust |"
    );
    println!("|---|---|---|---|---|");
    for (runtime, cold, warm) in rows {
        println!(
            "| {runtime} | {} | {} | {:.2} | {:.2} |",
            ms(*cold),
            ms(*warm),
            cold.as_secs_f64() / rust_cold.as_secs_f64(),
            warm.as_secs_f64() / rust_warm.as_secs_f64()
        );
    }
}
