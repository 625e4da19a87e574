//! Support access in flight, by token holder, so that a revoke, an expiry or a seat
//! release also ends what began before it (SPEC §3 "Revocation in flight", §7): a
//! request waiting for the CRM's response head, an upload still streaming to the CRM,
//! a body the gateway is reading, a response still streaming to the client, and the
//! holder's idle keep-alive connections.
//!
//! Each of them holds a [`Watch`] on its holder's entry (the grant, the staff member
//! and the token's issue time, as [`SupportTokenFacts`] has them). An entry ends when
//! the grant ends locally ([`LiveGrants::end`], [`LiveGrants::end_actor`]) or when a
//! [`LiveGrants::recheck`] — on every grant change another instance announces, and on
//! every sweep — finds that the store no longer authorises its holder. Ending an entry
//! wakes every watch on it and asks every connection attached to it to close.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body::{Frame, SizeHint};
use support_access_core::SupportAccess;
use support_access_core::ids::{GrantId, StaffId};
use support_access_core::service::{Refusal as AccessRefusal, SupportTokenFacts};
use tokio::sync::watch;

use crate::conn::{Closer, Connection};
use crate::metrics::Cuts;

/// Any error a body can end with.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why support access ended for a token holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The admin revoked the grant.
    Revoked,
    /// The grant's end date passed.
    Expired,
    /// The seat was released (or re-claimed since the token was issued).
    SeatReleased,
    /// Another staff member holds the seat.
    SeatTaken,
    /// The grant is gone.
    UnknownGrant,
}

impl Ended {
    /// How the domain names it (its code is the refusal's `error`).
    pub fn refusal(self) -> AccessRefusal {
        match self {
            Self::Revoked => AccessRefusal::Revoked,
            Self::Expired => AccessRefusal::Expired,
            Self::SeatReleased => AccessRefusal::SeatReleased,
            Self::SeatTaken => AccessRefusal::SeatTaken,
            Self::UnknownGrant => AccessRefusal::UnknownGrant,
        }
    }

    /// The reason of a domain refusal, `None` when the store could not say.
    pub fn of(refusal: &AccessRefusal) -> Option<Self> {
        match refusal {
            AccessRefusal::Revoked => Some(Self::Revoked),
            AccessRefusal::Expired => Some(Self::Expired),
            AccessRefusal::SeatReleased => Some(Self::SeatReleased),
            AccessRefusal::SeatTaken => Some(Self::SeatTaken),
            AccessRefusal::UnknownGrant => Some(Self::UnknownGrant),
            AccessRefusal::Store(_) => None,
        }
    }
}

type Key = (GrantId, StaffId, DateTime<Utc>);

fn key(facts: &SupportTokenFacts) -> Key {
    (facts.grant, facts.actor.clone(), facts.issued_at)
}

#[derive(Debug)]
struct Entry {
    facts: SupportTokenFacts,
    ended: watch::Sender<Option<Ended>>,
    watchers: usize,
    connections: Vec<Closer>,
}

/// The token holders with support access in flight.
#[derive(Debug)]
pub struct LiveGrants {
    entries: Mutex<HashMap<Key, Entry>>,
    cuts: Cuts,
}

impl LiveGrants {
    /// Nothing in flight yet; what gets cut is counted in `cuts`.
    pub fn new(cuts: Cuts) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            cuts,
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A watch on the holder of `facts`, registered until the last clone is dropped.
    pub fn watch(self: &Arc<Self>, facts: &SupportTokenFacts) -> Watch {
        let key = key(facts);
        let mut entries = self.entries();
        let entry = entries.entry(key.clone()).or_insert_with(|| Entry {
            facts: facts.clone(),
            ended: watch::channel(None).0,
            watchers: 0,
            connections: Vec::new(),
        });
        entry.watchers += 1;
        Watch {
            ended: entry.ended.subscribe(),
            _registration: Arc::new(Registration {
                live: self.clone(),
                key,
            }),
        }
    }

    /// Keeps `connection` attached to the holder of `facts` while it lives: it is asked
    /// to close when their access ends (at once if idle, after its response if busy).
    pub fn attach(self: &Arc<Self>, facts: &SupportTokenFacts, connection: &Connection) {
        let name = format!("live:{}:{}:{}", facts.grant, facts.actor, facts.issued_at);
        connection.hold_once(name, || {
            let watch = self.watch(facts);
            let mut entries = self.entries();
            if let Some(entry) = entries.get_mut(&key(facts)) {
                entry.connections.push(connection.closer());
                if entry.ended.borrow().is_some() {
                    connection.closer().close();
                }
            }
            watch
        });
    }

    /// Ends every holder's access under `grant` (a local revoke or expiry).
    pub fn end(&self, grant: GrantId, why: Ended) {
        self.end_where(|key| key.0 == grant, why);
    }

    /// Ends `actor`'s access under `grant` (a local seat release).
    pub fn end_actor(&self, grant: GrantId, actor: &StaffId, why: Ended) {
        self.end_where(|key| key.0 == grant && &key.1 == actor, why);
    }

    fn end_where(&self, matches: impl Fn(&Key) -> bool, why: Ended) {
        let entries = self.entries();
        for (key, entry) in entries.iter().filter(|(key, _)| matches(key)) {
            if entry.ended.borrow().is_some() {
                continue;
            }
            tracing::info!(grant = %key.0, actor = %key.1, reason = ?why,
                "support access ended: closing what is in flight");
            entry.ended.send_replace(Some(why));
            for connection in &entry.connections {
                connection.close();
            }
            self.cuts.connections(entry.connections.len());
        }
    }

    /// Asks the service, at `now`, whether each holder in flight is still authorised,
    /// and ends the access of those it refuses. A store that cannot say leaves them
    /// alone: the next check decides.
    pub async fn recheck(&self, access: &SupportAccess, now: DateTime<Utc>) {
        let holders: Vec<SupportTokenFacts> = self
            .entries()
            .values()
            .filter(|entry| entry.ended.borrow().is_none())
            .map(|entry| entry.facts.clone())
            .collect();
        for facts in holders {
            if let Err(refused) = access.authorise(&facts, now).await
                && let Some(why) = Ended::of(&refused)
            {
                let holder = key(&facts);
                self.end_where(|key| *key == holder, why);
            }
        }
    }

    /// How many holders have something in flight.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What gets cut, for counting.
    pub fn cuts(&self) -> &Cuts {
        &self.cuts
    }
}

#[derive(Debug)]
struct Registration {
    live: Arc<LiveGrants>,
    key: Key,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut entries = self.live.entries();
        if let Some(entry) = entries.get_mut(&self.key) {
            entry.watchers -= 1;
            if entry.watchers == 0 {
                entries.remove(&self.key);
            }
        }
    }
}

/// Tells when a token holder's support access ends. Clones share one registration.
#[derive(Debug, Clone)]
pub struct Watch {
    ended: watch::Receiver<Option<Ended>>,
    _registration: Arc<Registration>,
}

impl Watch {
    /// Why access ended, if it has.
    pub fn ended_now(&self) -> Option<Ended> {
        *self.ended.borrow()
    }

    /// Resolves once access ends.
    pub async fn ended(&self) -> Ended {
        let mut ended = self.ended.clone();
        loop {
            if let Some(why) = *ended.borrow_and_update() {
                return why;
            }
            if ended.changed().await.is_err() {
                // The entry cannot be dropped while this watch holds it.
                std::future::pending::<()>().await;
            }
        }
    }

    /// `body`, ended with an error once access ends: a response stops streaming to the
    /// client, an upload stops streaming to the CRM (which sees it cut, never complete).
    pub fn guard<B>(&self, body: B, what: Streaming) -> Revocable<B> {
        let watch = self.clone();
        Revocable {
            body,
            what,
            cut: false,
            cuts: watch._registration.live.cuts.clone(),
            ended: Box::pin(async move { watch.ended().await }),
        }
    }
}

/// Which way a guarded body streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streaming {
    /// A request body on its way to the CRM.
    Upload,
    /// A response body on its way to the client.
    Response,
}

/// A body that ends with an error when its holder's support access ends.
pub struct Revocable<B> {
    body: B,
    what: Streaming,
    cut: bool,
    cuts: Cuts,
    ended: Pin<Box<dyn std::future::Future<Output = Ended> + Send>>,
}

impl<B> std::fmt::Debug for Revocable<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocable")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

/// The error a cut body ends with.
#[derive(Debug, thiserror::Error)]
#[error("support access ended while the body was streaming: {0:?}")]
pub struct AccessEnded(pub Ended);

impl<B> http_body::Body for Revocable<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Poll::Ready(why) = self.ended.as_mut().poll(cx) {
            if !self.cut {
                self.cut = true;
                match self.what {
                    Streaming::Upload => self.cuts.upload(),
                    Streaming::Response => self.cuts.response(),
                }
            }
            return Poll::Ready(Some(Err(Box::new(AccessEnded(why)))));
        }
        Pin::new(&mut self.body).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
