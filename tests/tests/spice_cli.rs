//! The operator commands end to end: `opencloud spice type` runs a command
//! in the guest and `opencloud spice snapshot` writes a PNG equal to QEMU's
//! screendump.

use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use opencloud_tests::cluster_options::opencloud_bin;
use opencloud_tests::guest::{compare, Guest, GuestOptions, Screen};

fn read_png(path: &std::path::Path) -> Result<Screen> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path)?));
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size().context("PNG too large")?];
    let info = reader.next_frame(&mut buf)?;
    if info.color_type != png::ColorType::Rgb || info.bit_depth != png::BitDepth::Eight {
        bail!(
            "unexpected PNG format {:?} {:?}",
            info.color_type,
            info.bit_depth
        );
    }
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(3)
        .map(|p| (u32::from(p[0]) << 16) | (u32::from(p[1]) << 8) | u32::from(p[2]))
        .collect();
    Ok(Screen {
        width: info.width,
        height: info.height,
        pixels,
    })
}

fn run(args: &[&str]) -> Result<String> {
    let out = Command::new(opencloud_bin(false)?)
        .args(args)
        .output()
        .context("running opencloud")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "opencloud {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_and_snapshot_commands() -> Result<()> {
    let guest = Guest::boot(GuestOptions::default()).await?;
    let addr = guest.spice_addr();
    let dir = tempfile::tempdir()?;

    let typed = run(&[
        "spice",
        "type",
        "--addr",
        &addr,
        "--text",
        "echo cli-$((2+3)) > /dev/ttyS0\n",
    ])?;
    if !typed.contains("typed") {
        bail!("unexpected output of spice type: {typed}");
    }
    guest
        .wait_serial_line("cli-5", Duration::from_secs(30))
        .await?;

    let out = dir.path().join("screen.png");
    let out_s = out.to_string_lossy().into_owned();
    let mut last = String::new();
    for _ in 0..4 {
        let printed = run(&[
            "spice",
            "snapshot",
            "--addr",
            &addr,
            "--compression",
            "lz",
            "--settle-ms",
            "1500",
            "--out",
            &out_s,
        ])?;
        if !printed.contains("720x400") || !printed.contains("lz") {
            bail!("snapshot did not report size and formats: {printed}");
        }
        match compare(&read_png(&out)?, &guest.screendump().await?) {
            None => return Ok(()),
            Some(d) => last = d,
        }
    }
    bail!("snapshot PNG differs from the screendump: {last}")
}
