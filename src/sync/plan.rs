//! Which hours a token's pass fetches, from its sync state: the backfill, the overlap of recent
//! hours, older hours when `BACKFILL` grows, and how each range moves the covered-from mark.
//! Pure: no I/O.

use std::time::Duration;

use crate::db::entity::sync_state;

/// When a fetched range marks the hours it covers as complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cover {
    /// The range runs to the head: from its first page on, `from` onwards is covered.
    OnFirstPage(i64),
    /// Like `OnFirstPage`, after a hole of hours never fetched: coverage restarts at `from`.
    RestartOnFirstPage(i64),
    /// The range ends where coverage already began: only its last page closes the hole.
    OnLastPage(i64),
    Nothing,
}

/// Hours to fetch: `[from, until)` (`until` `None`: to the upstream's head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchRange {
    pub from: i64,
    pub until: Option<i64>,
    pub covers: Cover,
}

/// The ranges a token's pass fetches: everything from the backfill start the first time; after
/// that, the recent hours from `newest stored − overlap` (the current hour keeps changing and
/// late updates land there), plus any older hours when `BACKFILL` now reaches further back
/// than the mirror has fetched. When the backfill start has moved past the newest stored hour
/// (the sync was off for longer than the window), the hours in between were never fetched:
/// coverage restarts at the backfill start, so that raising `BACKFILL` later fills them.
pub fn plan(start: i64, saved: Option<&sync_state::Model>, overlap: Duration) -> Vec<FetchRange> {
    // Whole hours, rounded up: a part of an hour still asks for that hour again.
    let overlap = i64::try_from(overlap.as_secs().div_ceil(3600) * 3600).unwrap_or(i64::MAX / 2);
    match saved.and_then(|s| Some((s.covered_from?, s.newest_hour?))) {
        Some((_, newest)) if start > newest => vec![FetchRange {
            from: start,
            until: None,
            covers: Cover::RestartOnFirstPage(start),
        }],
        Some((covered, newest)) => {
            let mut ranges = vec![FetchRange {
                from: start.max(newest - overlap),
                until: None,
                covers: Cover::Nothing,
            }];
            if start < covered {
                ranges.push(FetchRange {
                    from: start,
                    until: Some(covered),
                    covers: Cover::OnLastPage(start),
                });
            }
            ranges
        }
        None => vec![FetchRange {
            from: start,
            until: None,
            covers: Cover::OnFirstPage(start),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(covered: Option<i64>, newest: Option<i64>) -> sync_state::Model {
        sync_state::Model {
            network: "n".into(),
            address: "a".into(),
            newest_hour: newest,
            covered_from: covered,
            synced_head: None,
            rows_synced: 0,
            last_attempt_at: None,
            last_success_at: None,
            last_error: None,
            last_error_at: None,
        }
    }

    const H: i64 = 3600;

    #[test]
    fn first_pass_fetches_everything_from_the_backfill_start() {
        let r = plan(100 * H, None, Duration::from_secs(3 * H as u64));
        assert_eq!(
            r,
            vec![FetchRange {
                from: 100 * H,
                until: None,
                covers: Cover::OnFirstPage(100 * H)
            }]
        );
        // Covered but nothing stored (no upstream rows yet): the same.
        assert_eq!(
            r,
            plan(
                100 * H,
                Some(&saved(Some(100 * H), None)),
                Duration::from_secs(3 * H as u64)
            )
        );
    }

    #[test]
    fn later_passes_fetch_the_overlap_and_any_older_hours() {
        // A part of an hour counts as a whole one: 3h59s fetches 4 hours again.
        let overlap = Duration::from_secs(3 * H as u64 + 59);
        let s = saved(Some(100 * H), Some(500 * H));
        assert_eq!(
            plan(110 * H, Some(&s), overlap),
            vec![FetchRange {
                from: 496 * H,
                until: None,
                covers: Cover::Nothing
            }]
        );
        assert_eq!(
            plan(50 * H, Some(&s), overlap),
            vec![
                FetchRange {
                    from: 496 * H,
                    until: None,
                    covers: Cover::Nothing
                },
                FetchRange {
                    from: 50 * H,
                    until: Some(100 * H),
                    covers: Cover::OnLastPage(50 * H)
                }
            ]
        );
        // Newest stored hour before the backfill start (the sync was off for a long time):
        // start there, and restart coverage, since the hours in between were never fetched.
        assert_eq!(
            plan(600 * H, Some(&s), overlap),
            vec![FetchRange {
                from: 600 * H,
                until: None,
                covers: Cover::RestartOnFirstPage(600 * H)
            }]
        );
    }
}
