//! `fedstore import FILE...`: checks each file locally (errors name file and line), then sends
//! it to a running server's import endpoint in line-aligned pieces, with a progress bar.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::exposition::parse::{Format, Parser};

/// Bytes per import request; pieces end at a line boundary.
const PIECE_BYTES: usize = 16 << 20;

/// Imports every file into the server at `base_url`.
pub fn run(files: &[PathBuf], base_url: &str) -> anyhow::Result<()> {
    let url = format!(
        "{}/api/v1/import/prometheus",
        base_url.trim_end_matches('/')
    );
    for file in files {
        let data = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        check(file, &data)?;
        send(file, &data, &url)?;
    }
    Ok(())
}

/// Parses the whole file so a bad line is reported before anything is sent.
fn check(file: &Path, data: &[u8]) -> anyhow::Result<()> {
    let mut parser = Parser::new(data, Format::Text);
    loop {
        match parser.next() {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            Err(e) => bail!("{}:{}: {}", file.display(), e.line, e.message()),
        }
    }
}

fn send(file: &Path, data: &[u8], url: &str) -> anyhow::Result<()> {
    let bar = ProgressBar::new(data.len() as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})")
            .expect("static progress template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(file.display().to_string());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut rest = data;
    while !rest.is_empty() {
        let cut = if rest.len() <= PIECE_BYTES {
            rest.len()
        } else {
            rest[..PIECE_BYTES]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(rest.len(), |i| i + 1)
        };
        let (piece, tail) = rest.split_at(cut);
        let resp = agent
            .post(url)
            .header("Content-Type", "text/plain")
            .send(piece)
            .with_context(|| format!("sending {} to {url}", file.display()))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.into_body().read_to_string().unwrap_or_default();
            bail!(
                "{}: server answered {status}: {}",
                file.display(),
                body.trim_end()
            );
        }
        bar.inc(piece.len() as u64);
        rest = tail;
    }
    bar.finish();
    Ok(())
}
