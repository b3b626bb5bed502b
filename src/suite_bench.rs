//! `vpclab bench --only suite` (issue 14): the scenario suite as README runs it (one test
//! process, libtest's threads), its wall time against the sum of its tests' own times: how well
//! the tests spread over the cores, and which tests decide the suite's time.
//!
//! libtest reports each test's time only in its JSON format, an unstable option; the bench sets
//! `RUSTC_BOOTSTRAP=1` for the test binary alone (the harness builds Lambda crates without it).

use std::{
    io::{BufRead as _, BufReader},
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::bench::{Row, print_rows};

/// How many of the slowest tests the table names.
const SLOWEST: usize = 5;

/// One finished test, as libtest reported it.
#[derive(Debug)]
struct Finished {
    name: String,
    passed: bool,
    took: Duration,
}

/// Builds the suite, runs it with `test_threads` (libtest's default when `None`) and prints
/// the table.
pub(crate) fn run(test_threads: Option<usize>) -> anyhow::Result<()> {
    let binary = build_suite()?;
    let mut command = Command::new(&binary);
    command
        .args([
            "-Z",
            "unstable-options",
            "--format",
            "json",
            "--report-time",
        ])
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped());
    if let Some(threads) = test_threads {
        command.arg(format!("--test-threads={threads}"));
    }
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("run the suite {}", binary.display()))?;
    let stdout = child.stdout.take().context("the suite's output")?;
    let finished: Vec<Finished> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| finished(&line))
        .collect();
    let status = child.wait().context("wait for the suite")?;
    let wall = started.elapsed();
    if finished.is_empty() {
        bail!(
            "the suite reported no test ({status}); run `cargo test --test scenarios` to see why"
        );
    }
    print_rows(&rows(&finished, wall, test_threads));
    Ok(())
}

/// `cargo test --test scenarios --no-run`: the suite's executable.
fn build_suite() -> anyhow::Result<PathBuf> {
    // The harness's cargo: run from `cargo run -- bench`, a plain cargo would rebuild the
    // dependencies whose build scripts watch the variables cargo set for vpclab.
    let output = vpclab_harness::Settings::get()
        .cargo_command()
        .args([
            "test",
            "--test",
            "scenarios",
            "--no-run",
            "--message-format=json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .context("run cargo to build the suite")?;
    if !output.status.success() {
        bail!(
            "`cargo test --test scenarios --no-run` failed ({})",
            output.status
        );
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "scenarios")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo named no executable for the test target `scenarios`")
}

/// A test's end, from one line of libtest's JSON output.
fn finished(line: &str) -> Option<Finished> {
    let event: Value = serde_json::from_str(line).ok()?;
    if event["type"] != "test" {
        return None;
    }
    let passed = match event["event"].as_str()? {
        "ok" => true,
        "failed" => false,
        _ => return None,
    };
    Some(Finished {
        name: event["name"].as_str()?.to_owned(),
        passed,
        took: Duration::from_secs_f64(event["exec_time"].as_f64().unwrap_or(0.0)),
    })
}

fn rows(finished: &[Finished], wall: Duration, test_threads: Option<usize>) -> Vec<Row> {
    let sum: Duration = finished.iter().map(|f| f.took).sum();
    let failed = finished.iter().filter(|f| !f.passed).count();
    let threads = test_threads.map_or_else(|| "libtest's default".to_owned(), |n| n.to_string());
    let mut rows = vec![
        Row {
            what: format!("tests (test threads: {threads})"),
            value: format!("{} ({failed} failed)", finished.len()),
        },
        Row::took("the suite's wall time", wall),
        Row::took("the sum of its tests' times", sum),
        Row {
            what: "sum / wall (tests running at once, on average)".into(),
            value: format!("{:.2}", sum.as_secs_f64() / wall.as_secs_f64()),
        },
    ];
    let mut slowest: Vec<&Finished> = finished.iter().collect();
    slowest.sort_by_key(|f| std::cmp::Reverse(f.took));
    rows.extend(
        slowest
            .iter()
            .take(SLOWEST)
            .map(|f| Row::took(format!("slowest: `{}`", f.name), f.took)),
    );
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_test_end_and_skips_the_rest() {
        let ok = r#"{ "type": "test", "name": "a::b", "event": "ok", "exec_time": 1.5 }"#;
        let end = finished(ok).expect("a test's end");
        assert_eq!((end.name.as_str(), end.passed), ("a::b", true));
        assert_eq!(end.took, Duration::from_millis(1500));
        let failed = r#"{ "type": "test", "name": "c", "event": "failed", "exec_time": 2 }"#;
        assert!(!finished(failed).expect("a failure").passed);
        assert!(finished(r#"{ "type": "test", "name": "c", "event": "started" }"#).is_none());
        assert!(finished(r#"{ "type": "suite", "event": "ok", "passed": 3 }"#).is_none());
        assert!(finished("running 3 tests").is_none());
    }

    #[test]
    fn the_ratio_is_the_sum_over_the_wall() {
        let tests = [("a", 3000), ("b", 1000)].map(|(name, ms)| Finished {
            name: name.into(),
            passed: true,
            took: Duration::from_millis(ms),
        });
        let table = rows(&tests, Duration::from_millis(2000), Some(2));
        assert_eq!(table[2].value, "4000 ms");
        assert_eq!(table[3].value, "2.00");
        assert_eq!(table[4].what, "slowest: `a`");
    }
}
