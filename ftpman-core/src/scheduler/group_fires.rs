//! Turning the fires of scheduled groups into queued group runs, with the rules jobs follow: at
//! most one catch-up run for the latest missed fire, fires continued from the last recorded
//! one, a fire that finds the group still running recorded as skipped, and one run per fire
//! across nodes (the store's unique (group, fire)).

use super::CompiledSchedule;
use crate::model::{Group, NewGroupRun, RunStatus, Schedule, Trigger};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

struct FireState {
    /// The group's version (its last change); a change restarts its fires from that moment.
    version: DateTime<Utc>,
    schedule: CompiledSchedule,
    next: Option<DateTime<Utc>>,
}

/// The groups as last loaded, with the store's fingerprint of them then.
type GroupCache = Option<((i64, i64), Vec<Group>)>;

/// The scheduled groups' next fires on one node.
#[derive(Default)]
pub(super) struct GroupFires {
    states: Mutex<HashMap<i64, FireState>>,
    cache: Mutex<GroupCache>,
}

impl GroupFires {
    /// The enabled, scheduled groups; reloaded only when the store says groups changed.
    async fn scheduled(&self, store: &dyn Store) -> Result<Vec<Group>, StoreError> {
        let fingerprint = store.groups_fingerprint().await?;
        if let Ok(cache) = self.cache.lock()
            && let Some((fp, groups)) = cache.as_ref()
            && *fp == fingerprint
        {
            return Ok(groups.clone());
        }
        let groups: Vec<Group> = store
            .groups()
            .await?
            .into_iter()
            .filter(|g| g.enabled && g.schedule != Schedule::Manual)
            .collect();
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((fingerprint, groups.clone()));
        }
        Ok(groups)
    }

    /// The earliest next fire of any scheduled group.
    pub(super) fn next(&self) -> Option<DateTime<Utc>> {
        let states = self.states.lock().ok()?;
        states.values().filter_map(|s| s.next).min()
    }

    /// Records the group runs of every fire due up to `now`: one per group at most.
    pub(super) async fn fire_due(&self, store: &dyn Store, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let groups = self.scheduled(store).await?;
        let mut due = Vec::new();
        for group in &groups {
            let known = self
                .states
                .lock()
                .ok()
                .and_then(|s| s.get(&group.id).map(|st| (st.version == group.updated_at, st.next)));
            let (schedule, next) = match known {
                Some((true, next)) => (None, next),
                // Changed since last seen: from now on.
                Some((false, _)) => {
                    let schedule = CompiledSchedule::of(&group.schedule);
                    let next = schedule.next_after(now);
                    (Some(schedule), next)
                }
                // First sight: from the last recorded fire.
                None => {
                    let schedule = CompiledSchedule::of(&group.schedule);
                    let next = match (store.last_group_fire(group.id).await?, &group.schedule) {
                        (Some(last), _) if group.updated_at > last => schedule.next_after(group.updated_at.min(now)),
                        (Some(last), _) => schedule.next_after(last),
                        (None, Schedule::Once { at }) => Some(*at),
                        (None, _) => schedule.next_after(now),
                    };
                    (Some(schedule), next)
                }
            };
            let Ok(mut states) = self.states.lock() else { continue };
            let state = states.entry(group.id).or_insert_with(|| FireState {
                version: group.updated_at,
                schedule: CompiledSchedule::Manual,
                next: None,
            });
            if let Some(schedule) = schedule {
                state.schedule = schedule;
                state.version = group.updated_at;
            }
            state.next = next;
            if let Some(fire) = state.next
                && fire <= now
            {
                let fire = state.schedule.latest_at(now).filter(|l| *l >= fire).unwrap_or(fire);
                due.push((group.id, group.name.clone(), fire));
                state.next = state.schedule.next_after(now);
            }
        }
        if let Ok(mut states) = self.states.lock()
            && states.len() > groups.len()
        {
            states.retain(|id, _| groups.iter().any(|g| g.id == *id));
        }
        let mut created = 0;
        for (i, (group_id, name, fire)) in due.iter().enumerate() {
            match Self::record(store, *group_id, name, *fire, now).await {
                Ok(made) => created += usize::from(made),
                Err(e) => {
                    // Not recorded: this fire and the ones after it are tried again next tick.
                    if let Ok(mut states) = self.states.lock() {
                        for (group_id, _, fire) in &due[i..] {
                            if let Some(state) = states.get_mut(group_id) {
                                state.next = Some(*fire);
                            }
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(created)
    }

    /// Records one group fire: queued, or skipped when a run of the group is still queued or
    /// running; false when another node recorded it first.
    async fn record(
        store: &dyn Store,
        group_id: i64,
        name: &str,
        fire: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Any unfinished run among the latest, not only the newest: a manual run skipped
        // meanwhile is newer than the one still going.
        let running = store
            .group_runs(group_id, 20)
            .await?
            .iter()
            .any(|r| !r.status.is_final());
        let new = NewGroupRun {
            group_id,
            trigger: Trigger::Schedule,
            scheduled_for: Some(fire),
            status: if running { RunStatus::Skipped } else { RunStatus::Queued },
            as_of: None,
            again: false,
        };
        let Some(run) = store.create_group_run(&new).await? else {
            return Ok(false);
        };
        if run.status == RunStatus::Skipped {
            store
                .finish_group_run(
                    run.id,
                    None,
                    RunStatus::Skipped,
                    Some("the previous run of this group was still going"),
                    now,
                )
                .await?;
            tracing::info!(target: "ftpman::scheduler", group = %name, fire = %fire, "group fire skipped: the previous run is still going");
        }
        Ok(true)
    }
}
