//! The listing cases of the [`ChangeStore`](support_access_core::ChangeStore) contract.

use std::collections::BTreeSet;

use support_access_core::StoreError;
use support_access_core::change::{ChangeId, ChangeQuery, NewChangeEntry};
use support_access_core::ids::GrantId;

use super::{all_pages, capture, record_one, recorded, update};
use crate::ChangeStoreFixture;
use crate::support::fresh_org;

/// Newest event first; within one event, the order the entries were given.
pub async fn list_is_newest_first_in_recording_order_within_a_request(f: ChangeStoreFixture) {
    let org = fresh_org();
    let grant = GrantId::random();
    let mut expected = Vec::new();
    for minute in 0..3 {
        let c = capture(&org, grant, minute);
        let batch: Vec<NewChangeEntry> = (0..3)
            .map(|n| update(&c, "Leads", &format!("{minute}-{n}")))
            .collect();
        let ids: Vec<ChangeId> = batch.iter().map(|e| e.id).collect();
        expected.splice(0..0, ids);
        f.store
            .record(batch.clone(), recorded(&c, &batch))
            .await
            .expect("record");
    }
    assert_eq!(
        all_pages(&f.store, ChangeQuery::new(org.clone())).await,
        expected
    );
    let mut query = ChangeQuery::new(org);
    query.limit = 4;
    assert_eq!(all_pages(&f.store, query).await, expected);
}

/// Filters by grant, module and record, alone and combined.
pub async fn list_filters_by_grant_module_and_record(f: ChangeStoreFixture) {
    let org = fresh_org();
    let (g1, g2) = (GrantId::random(), GrantId::random());
    let mut ids = Vec::new();
    for (minute, (grant, module, id)) in [
        (g1, "Leads", "1"),
        (g1, "Deals", "1"),
        (g2, "Leads", "1"),
        (g2, "Leads", "2"),
    ]
    .into_iter()
    .enumerate()
    {
        let c = capture(&org, grant, minute as i64);
        let entries = vec![update(&c, module, id)];
        let event = recorded(&c, &entries);
        let done = f.store.record(entries, event).await.expect("record");
        ids.push(done.entries[0].id);
    }
    let query = |grant: Option<GrantId>, module: Option<&str>, record: Option<&str>| {
        let mut q = ChangeQuery::new(org.clone());
        q.grant = grant;
        q.module = module.map(String::from);
        q.record = record.map(String::from);
        q
    };
    let cases = [
        (query(Some(g1), None, None), vec![ids[1], ids[0]]),
        (
            query(None, Some("Leads"), None),
            vec![ids[3], ids[2], ids[0]],
        ),
        (query(None, None, Some("1")), vec![ids[2], ids[1], ids[0]]),
        (query(Some(g2), Some("Leads"), Some("2")), vec![ids[3]]),
        (query(Some(g1), Some("Leads"), Some("2")), vec![]),
    ];
    for (q, expected) in cases {
        assert_eq!(all_pages(&f.store, q.clone()).await, expected, "{q:?}");
    }
}

/// Following cursors lists every entry once, also while entries are being recorded.
pub async fn cursor_paging_is_stable_while_entries_are_recorded(f: ChangeStoreFixture) {
    let org = fresh_org();
    let grant = GrantId::random();
    let mut before = BTreeSet::new();
    for minute in 0..7 {
        let c = capture(&org, grant, minute);
        let batch: Vec<NewChangeEntry> = (0..(minute % 3 + 1))
            .map(|n| update(&c, "Leads", &n.to_string()))
            .collect();
        before.extend(batch.iter().map(|e| e.id));
        f.store
            .record(batch.clone(), recorded(&c, &batch))
            .await
            .expect("record");
    }
    let mut query = ChangeQuery::new(org.clone());
    query.limit = 2;
    let mut listed = Vec::new();
    let mut minute = 100;
    loop {
        let page = f.store.list(&query).await.expect("list");
        listed.extend(page.entries.iter().map(|e| e.id));
        record_one(&f.store, &capture(&org, grant, minute), "new").await;
        minute += 1;
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(listed.len(), before.len(), "no duplicate, no new entry");
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), before);
}

/// A page holds at least one entry, whatever limit is asked.
pub async fn page_size_is_bounded(f: ChangeStoreFixture) {
    let org = fresh_org();
    let grant = GrantId::random();
    for minute in 0..2 {
        record_one(&f.store, &capture(&org, grant, minute), "1").await;
    }
    let mut query = ChangeQuery::new(org);
    query.limit = 0;
    let page = f.store.list(&query).await.expect("list");
    assert_eq!(page.entries.len(), 1);
    assert!(page.next_cursor.is_some());
}

/// Another org's entries are never listed nor found.
pub async fn list_and_get_never_return_another_orgs_entries(f: ChangeStoreFixture) {
    let (mine, theirs) = (fresh_org(), fresh_org());
    let grant = GrantId::random();
    let own = record_one(&f.store, &capture(&mine, grant, 0), "1").await;
    let other = record_one(&f.store, &capture(&theirs, grant, 1), "1").await;
    let mut query = ChangeQuery::new(mine.clone());
    query.grant = Some(grant);
    assert_eq!(all_pages(&f.store, query).await, vec![own.id]);
    assert_eq!(
        f.store.get(&mine, other.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        f.store.get(&mine, ChangeId::random()).await,
        Err(StoreError::NotFound)
    );
}
