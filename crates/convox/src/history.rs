//! `convox rack history`: who changed what, when, with what result; one rack's or the whole
//! store's (in a shared store, the team's). Rows are rendered as `convox rack` renders its
//! recent changes.

use convox_store::HistoryEntry;

use crate::cli::Output;
use crate::commands::open_store;
use crate::render::{any_shortened, print, print_json, result_text, table, what_text, when_text};
use crate::Fail;

pub fn show(rack: Option<String>, limit: usize, output: Output) -> Result<(), Fail> {
    let store = open_store()?;
    let rack = rack.filter(|r| !r.is_empty());
    let entries = store.history(rack.as_deref(), limit.max(1))?;
    if let Some(name) = &rack {
        // History outlives its rack; a name with neither is a typo.
        if entries.is_empty() && store.rack(name)?.is_none() {
            return Err(convox_store::StoreError::UnknownRack(name.clone()).into());
        }
    }
    match output {
        Output::Json => print_json(&entries),
        Output::Text => {
            print(&text(&entries, rack.is_none()));
            Ok(())
        }
    }
}

fn text(entries: &[HistoryEntry], with_rack: bool) -> String {
    if entries.is_empty() {
        return "No changes recorded.\n".to_string();
    }
    let mut rows = vec![[
        "WHEN".to_string(),
        "RACK".into(),
        "ACTOR".into(),
        "ACTION".into(),
        "RESULT".into(),
        "WHAT".into(),
    ]];
    for e in entries {
        rows.push([
            when_text(&e.at),
            e.rack.clone(),
            e.actor.clone(),
            e.action.clone(),
            result_text(e),
            what_text(&e.what),
        ]);
    }
    let mut s = if with_rack {
        table(&rows)
    } else {
        // One rack: its name is in the command line already.
        let rows: Vec<[String; 5]> = rows
            .into_iter()
            .map(|[w, _, a, c, r, x]| [w, a, c, r, x])
            .collect();
        table(&rows)
    };
    if any_shortened(entries) {
        s.push_str("(results shortened; `--output json` has them whole)\n");
    }
    s
}
