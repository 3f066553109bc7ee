//! The browser pages' own self-tests (tests/browser/*selftest.mjs), run in
//! headless Chromium against the in-memory stand-ins of the node, so that
//! the pages' details (keyboard use, layout limits, error texts, presence
//! timing) are checked in CI too, not only the flows the cluster tests use.

use std::process::Command;

use anyhow::{ensure, Context, Result};

fn run(script: &str) -> Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    ensure!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed in {}: run scripts/test.sh (or npm ci there)",
        dir.display()
    );
    let out = Command::new("node")
        .arg(dir.join(script))
        .current_dir(&dir)
        .output()
        .with_context(|| format!("running node {script}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // The scripts end with "N passed, N failed".
    ensure!(stdout.contains(" passed, 0 failed"), "{script}: {stdout}");
    Ok(())
}

#[test]
fn the_viewer_page_passes_its_self_test() -> Result<()> {
    run("selftest.mjs")
}

#[test]
fn the_sign_in_and_desktop_pages_pass_their_self_test() -> Result<()> {
    run("desktop-selftest.mjs")
}
