//! `convox racks`, `convox switch`, `convox rack`: what the store says about racks.

use convox_store::{HistoryEntry, Provider, Rack};

use super::{open_store, selected};
use crate::cli::Output;
use crate::render::{any_shortened, print, print_json, result_text, table, what_text, when_text};
use crate::views::{RackInfo, RackRow};
use crate::Fail;

/// `convox racks`: name, provider, version, status (`*` marks the current rack).
pub(super) fn list(output: Output) -> Result<(), Fail> {
    let store = open_store()?;
    let racks = store.racks()?;
    let current = store.current_rack().ok().flatten();
    match output {
        Output::Json => print_json(
            &racks
                .iter()
                .map(|r| RackRow::new(r, current.as_deref()))
                .collect::<Vec<_>>(),
        ),
        Output::Text => {
            let mut rows = vec![[
                "NAME".to_string(),
                "PROVIDER".into(),
                "VERSION".into(),
                "STATUS".into(),
            ]];
            for r in &racks {
                let name = if current.as_deref() == Some(r.name.as_str()) {
                    format!("{} *", r.name)
                } else {
                    r.name.clone()
                };
                rows.push([
                    name,
                    r.provider.to_string(),
                    r.version.to_string(),
                    r.status.to_string(),
                ]);
            }
            print(&table(&rows));
            Ok(())
        }
    }
}

/// `convox switch [NAME]`: shows or sets the current rack.
pub(super) fn switch(name: Option<String>) -> Result<(), Fail> {
    let store = open_store()?;
    match name {
        None => match store.current_rack()? {
            Some(name) => print(&format!("{name}\n")),
            None => return Err(Fail::msg(
                "no current rack; choose one with `convox switch NAME` (`convox racks` lists them)",
            )),
        },
        Some(name) => {
            store.set_current_rack(&name)?;
            print(&format!("Switched to {name}\n"));
        }
    }
    Ok(())
}

/// `convox rack`: the rack's record, its inactive parameters and its recent changes.
pub(super) fn info(sel: Option<String>, output: Output) -> Result<(), Fail> {
    let store = open_store()?;
    let r = selected(&store, sel)?;
    let history = store.history(Some(&r.name), 10)?;
    let params = store.params(&r.name)?;
    let inactive = convox_params::inactive_at(&params, &r.version);
    match output {
        Output::Json => print_json(&RackInfo::new(&r, &history, &inactive)),
        Output::Text => {
            let mut s = table(&info_rows(&r, &inactive));
            if !history.is_empty() {
                s.push_str(&recent_changes(&r, &history));
            }
            print(&s);
            Ok(())
        }
    }
}

fn info_rows(r: &Rack, inactive: &[convox_params::LeftBehind]) -> Vec<[String; 2]> {
    let mut rows = vec![
        ["Name".to_string(), r.name.clone()],
        ["Provider".into(), r.provider.to_string()],
        ["Version".into(), r.version.to_string()],
        ["Status".into(), r.status.to_string()],
        ["Region".into(), r.region.clone()],
        ["Cluster".into(), r.cluster.clone()],
        ["Nodes role".into(), r.nodes_role_arn.clone()],
        [
            "Karpenter nodes role".into(),
            r.karpenter_nodes_role_arn.clone().unwrap_or_default(),
        ],
    ];
    if r.provider == Provider::Aws {
        // Which credentials the rack's commands use.
        rows.push([
            "AWS profile".into(),
            r.profile
                .clone()
                .unwrap_or_else(|| "(default credential chain)".into()),
        ]);
    }
    if let Some(e) = &r.last_error {
        rows.push(["Last error".into(), e.clone()]);
    }
    // Left behind by a downgrade: stored, not acting, back in force at `since`.
    for l in inactive {
        rows.push([
            "Inactive parameter".into(),
            format!(
                "{}={} ({} does not have it; acts again at {} or later)",
                l.key, l.value, r.version, l.since
            ),
        ]);
    }
    rows
}

fn recent_changes(r: &Rack, history: &[HistoryEntry]) -> String {
    let mut s = String::from("\nRecent changes:\n");
    let mut h = vec![[
        "WHEN".to_string(),
        "ACTOR".into(),
        "ACTION".into(),
        "RESULT".into(),
        "WHAT".into(),
    ]];
    for e in history {
        h.push([
            when_text(&e.at),
            e.actor.clone(),
            e.action.clone(),
            result_text(e),
            what_text(&e.what),
        ]);
    }
    s.push_str(&table(&h));
    if any_shortened(history) {
        s.push_str(&format!(
            "(results shortened; `convox rack -r {} --output json` has them whole)\n",
            r.name
        ));
    }
    s
}
