//! Benchmarks write their figures into docs/BENCHMARKS.md between marker
//! comments under their own heading, keeping everything else in the file.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Where a benchmark's generated block lives.
pub struct Section {
    /// The heading, e.g. "## Replicated store vs etcd".
    pub heading: &'static str,
    /// The opening marker comment.
    pub begin: &'static str,
    /// The closing marker comment.
    pub end: &'static str,
}

/// Replaces the generated block of `section` in `doc` with `body`, adding
/// the heading (at the end of the file) when it is missing.
pub fn write_section(doc: &std::path::Path, section: &Section, body: &str) -> Result<()> {
    let old = match std::fs::read_to_string(doc) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n".to_string(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", doc.display())),
    };
    let (begin, end) = (section.begin, section.end);
    let block = format!("{begin}\n{body}{end}\n");
    let new = match (old.find(section.heading), old.find(begin), old.find(end)) {
        (Some(_), Some(b), Some(e)) if e > b => {
            let rest = &old[e + end.len()..];
            format!(
                "{}{block}{}",
                &old[..b],
                rest.strip_prefix('\n').unwrap_or(rest)
            )
        }
        (Some(h), _, _) => {
            let eol = old[h..].find('\n').map_or(old.len(), |i| h + i + 1);
            format!("{}\n{block}{}", &old[..eol], &old[eol..])
        }
        _ => format!("{}\n\n{}\n\n{block}", old.trim_end(), section.heading),
    };
    std::fs::write(doc, new).with_context(|| format!("writing {}", doc.display()))
}

/// Where a benchmark command writes its figures: its options `--doc PATH`
/// and `--no-doc`, flattened into each command's own.
#[derive(clap::Args, Debug)]
pub struct DocArgs {
    /// Write the figures into this file's section.
    #[arg(long, default_value_os_t = benchmarks_md())]
    pub doc: PathBuf,
    /// Only print the figures.
    #[arg(long)]
    pub no_doc: bool,
}

impl DocArgs {
    /// The file to write, unless `--no-doc`.
    pub fn target(self) -> Option<PathBuf> {
        (!self.no_doc).then_some(self.doc)
    }
}

/// The repository's docs/BENCHMARKS.md.
pub fn benchmarks_md() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/BENCHMARKS.md")
}
