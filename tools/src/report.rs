//! fido-check's reports: a text table readable at a glance (with the evidence of every failed
//! check under it), JSON for machines, and JUnit XML for CI.

use std::fmt::Write as _;

use serde_json::json;

use crate::checks::{CheckResult, Run, Status};
use fido_host::Op;

/// The closing line: "12 passed, 1 failed, 2 skipped: NOT Microsoft-compatible".
pub fn summary_line(run: &Run) -> String {
    let (pass, fail, skip) = run.counts();
    let verdict = if run.passed() {
        "every required check passed"
    } else {
        "NOT Microsoft-compatible (a required check did not pass)"
    };
    format!("{pass} passed, {fail} failed, {skip} skipped: {verdict}")
}

fn hex(bytes: &[u8]) -> String {
    apdu::hex_encode(bytes)
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

fn write_evidence(out: &mut String, ops: &[Op], indent: &str) {
    // The end of the evidence is what decided a failure; keep the report short.
    let skip = ops.len().saturating_sub(6);
    if skip > 0 {
        let _ = writeln!(
            out,
            "{indent}… {skip} earlier operation(s), see --format json"
        );
    }
    for op in &ops[skip..] {
        let _ = writeln!(out, "{indent}{}", op.label);
        if !op.request.is_empty() {
            let _ = writeln!(out, "{indent}  request  {}", clip(&op.request, 200));
        }
        for ex in &op.exchanges {
            let _ = writeln!(out, "{indent}  > {}", clip(&hex(&ex.command), 120));
            let _ = writeln!(out, "{indent}  < {}", clip(&hex(&ex.response), 120));
        }
        let _ = writeln!(out, "{indent}  = {}", clip(&op.outcome, 300));
    }
}

/// The text report.
pub fn text(run: &Run, reader: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "fido-check: {reader}");
    let _ = writeln!(out, "  ATR       {}", hex(&run.atr));
    let _ = writeln!(
        out,
        "  AAGUID    {}",
        run.aaguid.as_deref().unwrap_or("(none)")
    );
    let _ = writeln!(out, "  versions  {}", run.versions.join(", "));
    let _ = writeln!(out);
    let id_w = run
        .results
        .iter()
        .map(|r| r.id.len())
        .max()
        .unwrap_or(2)
        .max(5);
    let _ = writeln!(out, "RESULT  {:<id_w$}  REQ  DETAIL", "CHECK");
    for r in &run.results {
        let req = if r.required { "yes" } else { "no" };
        let _ = writeln!(
            out,
            "{:<6}  {:<id_w$}  {:<3}  {}",
            r.status.as_str(),
            r.id,
            req,
            clip(&r.summary, 160)
        );
        for note in &r.notes {
            let _ = writeln!(
                out,
                "{:<6}  {:<id_w$}       note: {}",
                "",
                "",
                clip(note, 200)
            );
        }
    }
    let failed: Vec<&CheckResult> = run
        .results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Failed checks:");
        for r in failed {
            let _ = writeln!(out, "  {} — {}", r.id, r.title);
            let _ = writeln!(out, "    requirement: {}", r.source);
            let _ = writeln!(out, "    why: {}", r.summary);
            let _ = writeln!(out, "    evidence:");
            write_evidence(&mut out, &r.evidence, "      ");
        }
    }
    if !run.leftovers.is_empty() {
        let _ = writeln!(out);
        for l in &run.leftovers {
            let _ = writeln!(out, "LEFT ON THE CARD: {l}");
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", summary_line(run));
    out
}

fn op_json(op: &Op) -> serde_json::Value {
    json!({
        "label": op.label,
        "request": op.request,
        "apdus": op.exchanges.iter().map(|e| json!({
            "c": hex(&e.command),
            "r": hex(&e.response),
        })).collect::<Vec<_>>(),
        "outcome": op.outcome,
    })
}

/// The JSON report.
pub fn json(run: &Run, reader: &str) -> String {
    let (pass, fail, skip) = run.counts();
    let value = json!({
        "tool": "fido-check",
        "reader": reader,
        "atr": hex(&run.atr),
        "aaguid": run.aaguid,
        "versions": run.versions,
        "passed": run.passed(),
        "summary": {"passed": pass, "failed": fail, "skipped": skip, "line": summary_line(run)},
        "leftovers": run.leftovers,
        "checks": run.results.iter().map(|r| json!({
            "id": r.id,
            "title": r.title,
            "source": r.source,
            "required": r.required,
            "status": r.status.as_str().to_ascii_lowercase(),
            "summary": r.summary,
            "notes": r.notes,
            "evidence": r.evidence.iter().map(op_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// XML text escaping (attribute-safe).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even as references.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// The JUnit XML report: one testsuite, one testcase per check.
pub fn junit(run: &Run, reader: &str) -> String {
    let (_, fail, skip) = run.counts();
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<testsuites name="fido-check" tests="{}" failures="{fail}" skipped="{skip}">"#,
        run.results.len()
    );
    let _ = writeln!(
        out,
        r#"  <testsuite name="fido-check: {}" tests="{}" failures="{fail}" skipped="{skip}" errors="0">"#,
        xml_escape(reader),
        run.results.len()
    );
    for r in &run.results {
        let _ = write!(
            out,
            r#"    <testcase classname="fido-check" name="{} ({})""#,
            xml_escape(r.id),
            xml_escape(r.title)
        );
        let mut evidence = String::new();
        write_evidence(&mut evidence, &r.evidence, "");
        match r.status {
            Status::Pass => {
                let _ = writeln!(out, ">");
            }
            Status::Fail => {
                let _ = writeln!(out, ">");
                let _ = writeln!(
                    out,
                    r#"      <failure message="{}">{}</failure>"#,
                    xml_escape(&r.summary),
                    xml_escape(&format!("requirement: {}\n{evidence}", r.source))
                );
            }
            Status::Skip => {
                let _ = writeln!(out, ">");
                let _ = writeln!(
                    out,
                    r#"      <skipped message="{}{}"/>"#,
                    if r.required {
                        "required check skipped: "
                    } else {
                        ""
                    },
                    xml_escape(&r.summary)
                );
            }
        }
        let _ = writeln!(
            out,
            "      <system-out>{}</system-out>",
            xml_escape(&format!(
                "requirement: {}\n{}\n{}",
                r.source,
                r.summary,
                r.notes.join("\n")
            ))
        );
        let _ = writeln!(out, "    </testcase>");
    }
    let _ = writeln!(out, "  </testsuite>");
    let _ = writeln!(out, "</testsuites>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::CheckResult;

    fn sample() -> Run {
        let mk = |id, status, required| CheckResult {
            id,
            title: "a <title> & more",
            source: "000",
            required,
            status,
            summary: "why \"quoted\"".into(),
            notes: vec!["note".into()],
            evidence: vec![Op {
                label: "getInfo".into(),
                request: "04".into(),
                exchanges: vec![crate::Exchange {
                    command: vec![0x80, 0x10, 0, 0, 1, 4, 0],
                    response: vec![0x27, 0x90, 0x00],
                }],
                outcome: "CTAP2_ERR_OPERATION_DENIED".into(),
            }],
        };
        Run {
            atr: vec![0x3B, 0x80],
            aaguid: Some("f4804184-aeeb-4851-82ac-5e273de2e0a1".into()),
            versions: vec!["FIDO_2_1".into()],
            results: vec![
                mk("select", Status::Pass, true),
                mk("hmac-secret", Status::Fail, true),
                mk("reset", Status::Skip, false),
            ],
            leftovers: vec!["1 credential".into()],
        }
    }

    #[test]
    fn text_report_has_table_failures_and_summary() {
        let t = text(&sample(), "Virtual PCD 00 00");
        assert!(t.contains("RESULT  CHECK"));
        assert!(t.contains("FAIL    hmac-secret"));
        assert!(t.contains("> 80100000010400"));
        assert!(t.contains("LEFT ON THE CARD: 1 credential"));
        assert!(
            t.trim_end()
                .ends_with("1 passed, 1 failed, 1 skipped: NOT Microsoft-compatible (a required check did not pass)")
        );
    }

    #[test]
    fn json_report_parses() {
        let j: serde_json::Value = serde_json::from_str(&json(&sample(), "r")).expect("json");
        assert_eq!(j["passed"], false);
        assert_eq!(j["checks"][1]["status"], "fail");
        assert_eq!(j["checks"][1]["evidence"][0]["apdus"][0]["r"], "279000");
    }

    #[test]
    fn junit_is_escaped() {
        let x = junit(&sample(), "Reader <1>");
        assert!(x.contains("Reader &lt;1&gt;"));
        assert!(x.contains("a &lt;title&gt; &amp; more"));
        assert!(x.contains(r#"<failure message="why &quot;quoted&quot;">"#));
        assert!(x.contains("<skipped"));
        assert_eq!(x.matches("<testcase").count(), 3);
        assert_eq!(x.matches("</testcase>").count(), 3);
    }
}
