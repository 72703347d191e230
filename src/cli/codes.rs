use std::process::ExitCode;

use runbook::diagnostic::Severity;

use super::output;

/// The catalogue, one code a line, so a team can see what `check` may report (and
/// which codes `--deny warnings` would turn into errors) without reading the source.
pub fn run() -> ExitCode {
    let codes = runbook::all_codes();
    let width = codes
        .iter()
        .map(|code| code.as_str().len())
        .max()
        .unwrap_or(0);
    let mut listing = String::new();
    for code in codes {
        let severity = match code.default_severity() {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        listing.push_str(&format!(
            "{:width$}  {severity:7}  {}\n",
            code.as_str(),
            code.summary()
        ));
    }
    output::print_stdout(&listing);
    ExitCode::SUCCESS
}
