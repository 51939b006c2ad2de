//! Which racks a fleet command is for: `--all`, `-r A -r B …`, `--filter KEY=VALUE,…`.

use convox_store::{Rack, Store};

use crate::fleet::cli::FleetSel;
use crate::Fail;

const KEYS: &str = "provider, status, version, region";

/// One `KEY=VALUE` of `--filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Filter {
    Provider(String),
    Status(String),
    Version(String),
    Region(String),
}

impl Filter {
    fn matches(&self, r: &Rack) -> bool {
        match self {
            Filter::Provider(p) => r.provider.as_str() == p,
            Filter::Status(s) => r.status.as_str() == s,
            Filter::Version(v) => r.version.to_string() == *v,
            Filter::Region(g) => r.region == *g,
        }
    }
}

/// `provider=aws,status=running` → filters; a key or value that cannot match is refused.
pub(crate) fn parse_filter(s: &str) -> Result<Vec<Filter>, Fail> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(Fail::msg(format!(
                "--filter {part}: expected KEY=VALUE (keys: {KEYS})"
            )));
        };
        let v = v.trim().to_string();
        let f = match k.trim() {
            "provider" if ["aws", "local"].contains(&v.as_str()) => Filter::Provider(v),
            "provider" => {
                return Err(Fail::msg(format!(
                    "--filter provider={v}: a provider is aws or local"
                )))
            }
            "status" if ["installing", "running", "updating", "failed"].contains(&v.as_str()) => {
                Filter::Status(v)
            }
            "status" => {
                return Err(Fail::msg(format!(
                    "--filter status={v}: a status is installing, running, updating or failed"
                )))
            }
            "version" => Filter::Version(v),
            "region" => Filter::Region(v),
            other => {
                return Err(Fail::msg(format!(
                    "--filter: unknown key `{other}` (keys: {KEYS})"
                )))
            }
        };
        out.push(f);
    }
    if out.is_empty() {
        return Err(Fail::msg(format!(
            "--filter needs KEY=VALUE (keys: {KEYS})"
        )));
    }
    Ok(out)
}

/// The racks selected, in name order; an unknown `-r` name or an empty selection is an error.
pub(crate) fn select(store: &Store, sel: &FleetSel) -> Result<Vec<Rack>, Fail> {
    let filters = match &sel.filter {
        Some(f) => parse_filter(f)?,
        None => Vec::new(),
    };
    let all = store.racks()?;
    let mut picked: Vec<Rack> = if sel.racks.is_empty() {
        all
    } else {
        let unknown: Vec<&str> = sel
            .racks
            .iter()
            .filter(|n| !all.iter().any(|r| &r.name == *n))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(Fail::msg(format!(
                "no rack named {}; run `convox racks` to list racks",
                unknown.join(", ")
            )));
        }
        all.into_iter()
            .filter(|r| sel.racks.contains(&r.name))
            .collect()
    };
    picked.retain(|r| filters.iter().all(|f| f.matches(r)));
    picked.sort_by(|a, b| a.name.cmp(&b.name));
    if picked.is_empty() {
        return Err(Fail::msg(match &sel.filter {
            Some(f) => format!("no rack matches --filter {f}; run `convox racks` to list racks"),
            None => "there are no racks yet; install one with `convox rack install local NAME`"
                .to_string(),
        }));
    }
    Ok(picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_refuse_what_cannot_match() {
        assert_eq!(
            parse_filter("provider=aws, status=failed").expect("ok"),
            vec![
                Filter::Provider("aws".into()),
                Filter::Status("failed".into())
            ]
        );
        for bad in ["", "provider", "provider=gcp", "status=ok", "colour=red"] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }
}
