//! `fedstore check rules FILE...` and `fedstore check config FILE`: the checks of
//! `promtool check rules|config`, with its report lines and exit status.

use std::path::{Path, PathBuf};

use crate::rules::manager::{check_expr, expand_pattern};

/// What to check.
#[derive(Debug, clap::Subcommand)]
pub enum CheckCommand {
    /// Validate rule files as `promtool check rules` does.
    Rules {
        /// Rule files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Validate a configuration file and the rule files it names.
    Config {
        /// The configuration file.
        file: PathBuf,
    },
}

/// Runs the check, printing promtool's report to stdout (successes) and stderr (failures);
/// `Err` (exit 1) when anything failed.
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub fn run(cmd: &CheckCommand) -> anyhow::Result<()> {
    let ok = match cmd {
        CheckCommand::Rules { files } => files.iter().filter(|f| !check_rules(f)).count() == 0,
        CheckCommand::Config { file } => check_config(file),
    };
    if ok {
        Ok(())
    } else {
        anyhow::bail!("check failed")
    }
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn check_rules(path: &Path) -> bool {
    println!("Checking {}", path.display());
    match crate::rules::file::load(path, &check_expr, &crate::rules::template::check) {
        Ok(f) => {
            let n: usize = f.groups.iter().map(|g| g.rules.len()).sum();
            println!("  SUCCESS: {n} rules found\n");
            true
        }
        Err(errs) => {
            eprintln!("  FAILED:");
            for e in errs {
                eprintln!("{e}");
            }
            eprintln!();
            false
        }
    }
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn check_config(path: &Path) -> bool {
    println!("Checking {}", path.display());
    let cfg = match crate::config::Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("  FAILED: {e}\n");
            return false;
        }
    };
    let mut files = Vec::new();
    for p in &cfg.rule_files {
        let found = expand_pattern(p);
        files.extend(found);
    }
    println!(
        "  SUCCESS: {} rule files found\n SUCCESS: {} is valid prometheus config file syntax\n",
        files.len(),
        path.display()
    );
    files.iter().filter(|f| !check_rules(f)).count() == 0
}
