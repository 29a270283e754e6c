//! How pure the demo's incidents are: a week of the demo feed (fixed seeds)
//! enriched and assigned as `minyi serve` would, then each incident of at
//! least two items read by what its items say. An item "strays" when its
//! sentence (the template, without the estate it names and its digits) is
//! not the one most of its incident's items say; an incident "spans"
//! districts when its items were filed under more than one. The demo has
//! no labels, so this is a reading of its wall (the 热点事件 panel), not
//! a score: the labelled set (`tests/it/incidents.rs`) is the score.
//!
//! `cargo run --release --example demo_incidents -- [DAYS] [SEEDS] [SHOW]`
//! (SHOW: how many mixed incidents of a few items to print whole).

use std::collections::HashMap;
use std::sync::Arc;

use minyi::enrich::Enricher;
use minyi::incident::{DEFAULT_WINDOW_HOURS, Matcher, Signature, Vocabulary, assign_all};
use rayon::prelude::*;

/// The sentence of a demo text: without the estate before `：`, digits
/// and masking, its first ten characters.
fn sentence(text: &str) -> String {
    let rest = match text.split_once('：') {
        Some((estate, rest)) if !estate.is_empty() && estate.chars().count() <= 6 => rest,
        _ => text,
    };
    rest.chars()
        .filter(|c| !c.is_ascii_digit() && *c != '*')
        .take(10)
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let days: i64 = args.next().map_or(7, |a| a.parse().expect("DAYS"));
    let seeds: u64 = args.next().map_or(2, |a| a.parse().expect("SEEDS"));
    let show: usize = args.next().map_or(0, |a| a.parse().expect("SHOW"));
    let enricher = Arc::new(Enricher::builtin(b"demo-incidents-key").unwrap());
    let words = Vocabulary::new(enricher.clone());
    let now = enricher.now();
    let end = 1_780_000_000;
    for seed in 1..=seeds {
        let timeline =
            minyi::demo::timeline(enricher.gazetteer(), 1.0, end - days * 86_400, end, seed);
        // As the tracker reads them: a revisit answer about a case stands
        // alone (it is about that case, not an event of its own).
        let revisit: Vec<&str> = enricher
            .channels()
            .filter(|c| c.revisit)
            .map(|c| c.code.as_str())
            .collect();
        let items: Vec<_> = timeline
            .items
            .par_iter()
            .filter_map(|v| enricher.enrich_value(v, now).ok())
            .filter(|i| !(i.case_ref.is_some() && revisit.contains(&i.channel.as_str())))
            .collect();
        let sigs: Vec<Signature> = items.par_iter().map(|i| Signature::of(i, &words)).collect();
        let assigned = assign_all(&Matcher::new(DEFAULT_WINDOW_HOURS), sigs);
        let incident: HashMap<&str, &str> = assigned
            .iter()
            .filter_map(|(id, inc)| Some((id.as_str(), inc.as_deref()?)))
            .collect();
        let mut members: HashMap<&str, Vec<&minyi::model::EnrichedItem>> = HashMap::new();
        for item in &items {
            if let Some(inc) = incident.get(item.id.as_str()) {
                members.entry(inc).or_default().push(item);
            }
        }
        let (mut linked, mut strays, mut mixed, mut spanning) = (0, 0, 0, 0);
        let mut largest: Vec<(usize, usize, String)> = Vec::new();
        let mut shown = 0;
        let mut lists: Vec<_> = members.values().filter(|l| l.len() >= 2).collect();
        lists.sort_by_key(|l| (l[0].received_at, l[0].id.clone()));
        for list in lists {
            let mut said: HashMap<String, usize> = HashMap::new();
            for item in list {
                *said.entry(sentence(&item.text)).or_default() += 1;
            }
            let (main, most) = said
                .iter()
                .max_by_key(|(s, n)| (**n, (*s).clone()))
                .unwrap();
            let stray = list.len() - most;
            let districts: std::collections::BTreeSet<_> =
                list.iter().filter_map(|i| i.district.as_deref()).collect();
            if stray > 0 && list.len() <= 6 && shown < show {
                shown += 1;
                println!("  a mixed incident of {}:", list.len());
                for item in list {
                    let district = item.district.as_deref().unwrap_or("—");
                    println!(
                        "    {} {district} {}",
                        item.received_at.format("%m-%d %H:%M"),
                        item.text
                    );
                }
            }
            linked += list.len();
            strays += stray;
            mixed += usize::from(stray > 0);
            spanning += usize::from(districts.len() > 1);
            largest.push((list.len(), stray, main.clone()));
        }
        let incidents = largest.len();
        largest.sort_by(|a, b| b.cmp(a));
        println!(
            "seed {seed}: {} items over {days} days (revisit answers on a case left out), {linked} in {incidents} incidents; \
             {strays} of them ({:.1} %) stray from their incident's sentence; \
             {mixed} incidents mixed, {spanning} span more than one district",
            items.len(),
            100.0 * strays as f64 / linked.max(1) as f64
        );
        for (n, stray, main) in largest.iter().take(5) {
            println!("  {n:5} items, {stray:4} astray: {main}…");
        }
    }
}
