//! The sandbox clock: the time that decides expiry, `createdAt`, the "exp
//! must be in the future" rule and rate-limit refills. Tests move it
//! through the control plane, so that expiry is tested without waiting.
//! Its setting is kept in the store, so that every process on it shares
//! one clock; each process reads it with the request's key lookup.

use chrono::{DateTime, Utc};

use super::refusal::Refusal;

/// The latest instant the clock may show: the end of year 9999, the last
/// one every RFC 3339 reader can parse.
pub const LATEST: i64 = 253_402_300_799_999;

/// One move of the sandbox clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMove {
    /// Stop the clock at this instant, which must not lie before its now.
    FreezeAt(DateTime<Utc>),
    /// Move it this many seconds forward, at least one.
    AdvanceBySeconds(i64),
    /// Let a frozen clock run again from where it stands.
    Resume,
}

/// How the sandbox clock relates to the wall clock, in milliseconds. The
/// default runs with the wall clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClockSetting {
    /// The instant the clock stands still at, Unix milliseconds.
    frozen_at_ms: Option<i64>,
    /// How far ahead of the wall clock a running clock is.
    offset_ms: i64,
}

/// Why the clock refused to move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockRefusal {
    /// The move would take the clock back from this now. A key made later
    /// must never list before one made earlier, so only a reset does that.
    WouldGoBack(DateTime<Utc>),
    /// The move would take the clock past [`LATEST`].
    TooLate,
}

impl ClockSetting {
    /// The sandbox's now, when the wall clock shows `wall`.
    pub fn now_at(&self, wall: DateTime<Utc>) -> DateTime<Utc> {
        let ms = self
            .frozen_at_ms
            .unwrap_or_else(|| wall.timestamp_millis().saturating_add(self.offset_ms));
        DateTime::from_timestamp_millis(ms.clamp(0, LATEST)).unwrap_or_default()
    }

    /// The sandbox's now.
    pub fn now(&self) -> DateTime<Utc> {
        self.now_at(Utc::now())
    }

    /// Whether the clock stands still.
    pub fn is_frozen(&self) -> bool {
        self.frozen_at_ms.is_some()
    }

    /// Stops the clock at `at`, which must not lie before its now in whole
    /// seconds: the precision of `createdAt` and `exp`, and so of list
    /// order and expiry. So the `now` just read from a running clock can be
    /// sent back to stop it there.
    pub fn freeze(&mut self, at: DateTime<Utc>, wall: DateTime<Utc>) -> Result<(), ClockRefusal> {
        let now = self.now_at(wall);
        if at.timestamp() < now.timestamp() {
            return Err(ClockRefusal::WouldGoBack(now));
        }
        let at = at.timestamp_millis();
        if at > LATEST {
            return Err(ClockRefusal::TooLate);
        }
        self.frozen_at_ms = Some(at);
        Ok(())
    }

    /// Moves the clock `seconds` forward; a frozen clock stays frozen.
    pub fn advance(&mut self, seconds: i64, wall: DateTime<Utc>) -> Result<(), ClockRefusal> {
        let by = seconds.saturating_mul(1000);
        let now = self.now_at(wall).timestamp_millis();
        if by < 0 {
            return Err(ClockRefusal::WouldGoBack(self.now_at(wall)));
        }
        if now.saturating_add(by) > LATEST {
            return Err(ClockRefusal::TooLate);
        }
        match &mut self.frozen_at_ms {
            Some(frozen) => *frozen += by,
            None => self.offset_ms = self.offset_ms.saturating_add(by),
        }
        Ok(())
    }

    /// Lets a frozen clock run again from where it stands: it never jumps
    /// back to the wall clock.
    pub fn resume(&mut self, wall: DateTime<Utc>) {
        if let Some(frozen) = self.frozen_at_ms.take() {
            self.offset_ms = frozen - wall.timestamp_millis();
        }
    }

    /// Makes `to`; answers whether the clock changed (resuming a running
    /// clock changes nothing), or why the move was refused, in which case
    /// nothing changed.
    pub fn apply(&mut self, to: ClockMove, wall: DateTime<Utc>) -> Result<bool, ClockRefusal> {
        match to {
            ClockMove::FreezeAt(at) => self.freeze(at, wall).map(|()| true),
            ClockMove::AdvanceBySeconds(seconds) => self.advance(seconds, wall).map(|()| true),
            ClockMove::Resume => {
                let was_frozen = self.is_frozen();
                self.resume(wall);
                Ok(was_frozen)
            }
        }
    }
}

/// The furthest one `advanceBySeconds` moves the clock: 100 years, as the
/// control spec states.
const MAX_ADVANCE_SECONDS: i64 = 3_153_600_000;

impl ClockMove {
    /// The control request's field that asks for this move.
    pub fn field(self) -> &'static str {
        match self {
            Self::FreezeAt(_) => "frozenAt",
            Self::AdvanceBySeconds(_) => "advanceBySeconds",
            Self::Resume => "resume",
        }
    }

    /// Refuses a move the control spec's limits rule out, whatever the
    /// clock shows: an advance of nothing, backwards, or past 100 years.
    pub fn within_limits(self) -> Result<Self, Refusal> {
        match self {
            Self::AdvanceBySeconds(seconds) if !(1..=MAX_ADVANCE_SECONDS).contains(&seconds) => {
                Err(Refusal::invalid(
                    self.field(),
                    format!(
                        "`advanceBySeconds` must be from 1 (the clock never moves back) to \
                         {MAX_ADVANCE_SECONDS} (100 years)."
                    ),
                ))
            }
            _ => Ok(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).expect("in range")
    }

    #[test]
    fn runs_with_the_wall_clock_until_moved() {
        let clock = ClockSetting::default();
        assert_eq!(clock.now_at(at(5_000)), at(5_000));
        assert!(!clock.is_frozen());
    }

    #[test]
    fn a_frozen_clock_stands_still_and_advances_only_when_told() {
        let mut clock = ClockSetting::default();
        clock.freeze(at(10_000), at(5_000)).expect("forward");
        assert_eq!(clock.now_at(at(9_999_999)), at(10_000));
        clock.advance(2, at(0)).expect("advance");
        assert_eq!(clock.now_at(at(0)), at(12_000));
        assert!(clock.is_frozen());
    }

    #[test]
    fn resuming_continues_from_where_the_clock_stood() {
        let mut clock = ClockSetting::default();
        clock.freeze(at(100_000), at(5_000)).expect("forward");
        clock.resume(at(7_000));
        assert_eq!(clock.now_at(at(7_000)), at(100_000));
        assert_eq!(clock.now_at(at(8_000)), at(101_000));
        clock.resume(at(8_000));
        assert_eq!(
            clock.now_at(at(8_000)),
            at(101_000),
            "resuming twice is harmless"
        );
    }

    #[test]
    fn the_clock_never_moves_back() {
        let mut clock = ClockSetting::default();
        clock.advance(60, at(1_000)).expect("advance");
        assert_eq!(
            clock.freeze(at(30_000), at(1_000)),
            Err(ClockRefusal::WouldGoBack(at(61_000)))
        );
        assert!(clock.advance(-1, at(1_000)).is_err());
        assert_eq!(
            clock.now_at(at(1_000)),
            at(61_000),
            "a refused move changes nothing"
        );
    }

    #[test]
    fn a_freeze_within_the_current_second_is_not_a_move_back() {
        let mut clock = ClockSetting::default();
        clock
            .freeze(at(61_500), at(61_900))
            .expect("the same second");
        assert_eq!(clock.now_at(at(0)), at(61_500));
        assert!(
            clock.freeze(at(60_999), at(0)).is_err(),
            "the second before"
        );
    }

    #[test]
    fn the_clock_stops_short_of_year_10000() {
        let mut clock = ClockSetting::default();
        assert_eq!(clock.advance(i64::MAX, at(0)), Err(ClockRefusal::TooLate));
        clock.freeze(at(LATEST), at(0)).expect("the last instant");
        assert_eq!(clock.advance(1, at(0)), Err(ClockRefusal::TooLate));
        assert_eq!(clock.now_at(at(0)), at(LATEST));
    }
}
