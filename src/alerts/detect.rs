//! The detectors: pure functions from the counts of one series (the
//! current window, the same window in earlier periods, a reference window)
//! to a finding or nothing. No clock, no I/O: the engine gathers counts
//! through the query model and passes them in.
//!
//! Small counts are the normal case (one police station, one topic, half
//! an hour), so the tests are for counts, not for percentages: a Poisson
//! upper tail against the expected count of this hour of the week, an
//! EWMA z-score, a one-sided binomial test for a negative share.

use serde::{Deserialize, Serialize};

/// Counts of one series in one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub total: u64,
    pub negative: u64,
}

/// Warn (p below `warn_p`) or alert (p below `alert_p`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Warn,
    Alert,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub level: Level,
    /// What was seen (count, or share for negative-share rules).
    pub observed: f64,
    /// What was expected from the history or reference.
    pub expected: f64,
    pub p_value: Option<f64>,
    /// For emerging terms: never seen in the history windows.
    pub new: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Up,
    Down,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    #[default]
    Poisson,
    Ewma,
}

/// A detector with its parameters, as written in `pipelines/alerts.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Detector {
    /// The current window against a reference window (ElastAlert's spike).
    Ratio {
        /// current ÷ reference (up) or reference ÷ current (down) at least this.
        spike_height: f64,
        #[serde(default)]
        direction: Direction,
        #[serde(default = "one")]
        min_current: u64,
        #[serde(default = "one")]
        min_reference: u64,
    },
    /// The expected count of this hour of the week from the last weeks.
    Baseline {
        #[serde(default)]
        test: Test,
        #[serde(default = "warn_p")]
        warn_p: f64,
        #[serde(default = "alert_p")]
        alert_p: f64,
        #[serde(default = "three")]
        min_count: u64,
        /// Also at least this multiple of the expected count: real traffic
        /// varies more than Poisson, so significance alone over-alerts on
        /// busy series. Default 1.5.
        #[serde(default = "one_and_a_half")]
        min_ratio: f64,
    },
    /// The share of negative items against the history's share.
    NegativeShare {
        /// Least rise of the share (0.2 = twenty points).
        jump: f64,
        #[serde(default = "warn_p")]
        warn_p: f64,
        #[serde(default = "alert_p")]
        alert_p: f64,
        #[serde(default = "three")]
        min_count: u64,
    },
    /// A keyword whose frequency bursts against its own history.
    Emerging {
        #[serde(default = "warn_p")]
        warn_p: f64,
        #[serde(default = "alert_p")]
        alert_p: f64,
        #[serde(default = "three")]
        min_count: u64,
        /// A burst is at least this multiple of the usual frequency. Default 2.
        #[serde(default = "two")]
        min_ratio: f64,
    },
}

fn one() -> u64 {
    1
}
fn three() -> u64 {
    3
}
fn one_and_a_half() -> f64 {
    1.5
}
fn two() -> f64 {
    2.0
}
fn warn_p() -> f64 {
    0.05
}
fn alert_p() -> f64 {
    0.01
}

/// The expected rate is never taken below this: a window that was always
/// empty does not make a single item an event.
const MIN_EXPECTED: f64 = 0.5;

impl Detector {
    pub fn name(&self) -> &'static str {
        match self {
            Detector::Ratio { .. } => "ratio",
            Detector::Baseline { .. } => "baseline",
            Detector::NegativeShare { .. } => "negative_share",
            Detector::Emerging { .. } => "emerging",
        }
    }

    /// Checks the parameters; the message names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        let p = |name: &str, v: f64| {
            if v > 0.0 && v < 1.0 {
                Ok(())
            } else {
                Err(format!("{name} must be in (0, 1), got {v}"))
            }
        };
        match self {
            Detector::Ratio { spike_height, .. } if *spike_height <= 1.0 => {
                Err(format!("spike_height must be above 1, got {spike_height}"))
            }
            Detector::Ratio { .. } => Ok(()),
            Detector::Baseline {
                warn_p, alert_p, ..
            }
            | Detector::Emerging {
                warn_p, alert_p, ..
            }
            | Detector::NegativeShare {
                warn_p, alert_p, ..
            } => {
                p("warn_p", *warn_p)?;
                p("alert_p", *alert_p)?;
                if alert_p > warn_p {
                    return Err("alert_p must not be above warn_p".into());
                }
                if let Detector::NegativeShare { jump, .. } = self
                    && !(*jump > 0.0 && *jump < 1.0)
                {
                    return Err(format!("jump must be in (0, 1), got {jump}"));
                }
                Ok(())
            }
        }
    }

    /// Whether the engine needs the history windows (else the reference).
    pub fn uses_history(&self) -> bool {
        !matches!(self, Detector::Ratio { .. })
    }

    /// Judges one series. `history`: the same window in earlier periods,
    /// newest first; `reference`: the window before the current one.
    pub fn judge(&self, current: Counts, history: &[Counts], reference: Counts) -> Option<Finding> {
        match *self {
            Detector::Ratio {
                spike_height,
                direction,
                min_current,
                min_reference,
            } => {
                let (c, r) = (current.total as f64, reference.total as f64);
                let up = matches!(direction, Direction::Up | Direction::Both)
                    && current.total >= min_current
                    && reference.total >= min_reference
                    && c >= spike_height * r;
                let down = matches!(direction, Direction::Down | Direction::Both)
                    && reference.total >= min_reference.max(min_current)
                    && r >= spike_height * c;
                (up || down).then_some(Finding {
                    level: Level::Alert,
                    observed: c,
                    expected: r,
                    p_value: None,
                    new: false,
                })
            }
            Detector::Baseline {
                test,
                warn_p,
                alert_p,
                min_count,
                min_ratio,
            } => {
                if current.total < min_count || history.is_empty() {
                    return None;
                }
                let totals: Vec<f64> = history.iter().map(|h| h.total as f64).collect();
                let (expected, p) = match test {
                    Test::Poisson => {
                        let lambda =
                            (totals.iter().sum::<f64>() / totals.len() as f64).max(MIN_EXPECTED);
                        (lambda, poisson_sf(current.total, lambda))
                    }
                    Test::Ewma => ewma_test(current.total as f64, &totals),
                };
                if (current.total as f64) < min_ratio * expected {
                    return None;
                }
                level(p, warn_p, alert_p).map(|level| Finding {
                    level,
                    observed: current.total as f64,
                    expected,
                    p_value: Some(p),
                    new: false,
                })
            }
            Detector::NegativeShare {
                jump,
                warn_p,
                alert_p,
                min_count,
            } => {
                if current.total < min_count {
                    return None;
                }
                let (neg, all) = history
                    .iter()
                    .fold((0u64, 0u64), |(n, t), h| (n + h.negative, t + h.total));
                // Without history, assume the usual share is small, not zero.
                let base = if all == 0 {
                    0.1
                } else {
                    (neg as f64 / all as f64).clamp(0.01, 0.99)
                };
                let share = current.negative as f64 / current.total as f64;
                if share - base < jump {
                    return None;
                }
                let n = current.total as f64;
                let z = (share - base) / (base * (1.0 - base) / n).sqrt();
                let p = normal_sf(z);
                level(p, warn_p, alert_p).map(|level| Finding {
                    level,
                    observed: share,
                    expected: base,
                    p_value: Some(p),
                    new: false,
                })
            }
            Detector::Emerging {
                warn_p,
                alert_p,
                min_count,
                min_ratio,
            } => {
                if current.total < min_count {
                    return None;
                }
                let seen: u64 = history.iter().map(|h| h.total).sum();
                let lambda = (seen as f64 / history.len().max(1) as f64).max(MIN_EXPECTED);
                if (current.total as f64) < min_ratio * lambda {
                    return None;
                }
                let p = poisson_sf(current.total, lambda);
                level(p, warn_p, alert_p).map(|level| Finding {
                    level,
                    observed: current.total as f64,
                    expected: lambda,
                    p_value: Some(p),
                    new: seen == 0,
                })
            }
        }
    }
}

fn level(p: f64, warn_p: f64, alert_p: f64) -> Option<Level> {
    if p < alert_p {
        Some(Level::Alert)
    } else if p < warn_p {
        Some(Level::Warn)
    } else {
        None
    }
}

/// P(X ≥ k) for X ~ Poisson(λ).
pub fn poisson_sf(k: u64, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if lambda > 500.0 {
        // Normal approximation with continuity correction.
        return normal_sf((k as f64 - 0.5 - lambda) / lambda.sqrt());
    }
    // 1 − P(X ≤ k−1), summing the terms; past the mode the terms shrink,
    // so stop once they no longer matter.
    let mut term = (-lambda).exp();
    let mut cdf = term;
    for i in 1..k {
        term *= lambda / i as f64;
        cdf += term;
        if term < 1e-300 && i as f64 > lambda {
            break;
        }
    }
    (1.0 - cdf).max(0.0)
}

/// P(Z ≥ z) for a standard normal Z.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// erfc with a relative error below 1.2e-7 (Numerical Recipes' erfcc).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// The EWMA of the history (oldest first, weight 0.3 on the newer) and a
/// one-sided z-test of the current count against it; variance floored at
/// the mean (Poisson-like) so a flat history is not infinitely certain.
fn ewma_test(current: f64, history_newest_first: &[f64]) -> (f64, f64) {
    const ALPHA: f64 = 0.3;
    let mut mean = *history_newest_first.last().unwrap_or(&0.0);
    let mut var = 0.0;
    for x in history_newest_first.iter().rev().skip(1) {
        let d = x - mean;
        mean += ALPHA * d;
        var = (1.0 - ALPHA) * (var + ALPHA * d * d);
    }
    let mean = mean.max(MIN_EXPECTED);
    let sd = var.max(mean).sqrt();
    (mean, normal_sf((current - mean) / sd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(total: u64) -> Counts {
        Counts { total, negative: 0 }
    }

    #[test]
    fn poisson_tail_matches_known_values() {
        // P(X ≥ 5 | λ = 1) = 0.00366
        assert!((poisson_sf(5, 1.0) - 0.003_659_8).abs() < 1e-6);
        // P(X ≥ 1 | λ = 2) = 1 − e^−2
        assert!((poisson_sf(1, 2.0) - (1.0 - (-2.0f64).exp())).abs() < 1e-12);
        assert_eq!(poisson_sf(0, 3.0), 1.0);
        assert!((normal_sf(1.96) - 0.025).abs() < 1e-4);
        assert!(poisson_sf(1200, 1000.0) < 1e-8);
    }

    #[test]
    fn baseline_warns_then_alerts_for_small_counts() {
        let d = Detector::Baseline {
            test: Test::Poisson,
            warn_p: 0.05,
            alert_p: 0.01,
            min_count: 3,
            min_ratio: 1.0,
        };
        let history = [c(1), c(2), c(1), c(0)]; // λ = 1
        assert_eq!(d.judge(c(3), &history, c(0)), None); // p = 0.080
        assert_eq!(d.judge(c(4), &history, c(0)).unwrap().level, Level::Warn); // p = 0.019
        assert_eq!(d.judge(c(5), &history, c(0)).unwrap().level, Level::Alert); // p = 0.0037
        // A station that always has ~20 is not alarmed by 24.
        let busy = [c(20), c(22), c(18), c(21)];
        assert_eq!(d.judge(c(24), &busy, c(0)), None);
        assert!(d.judge(c(40), &busy, c(0)).is_some());
        // A significant but small excess of a busy series needs min_ratio.
        let guarded = Detector::Baseline {
            test: Test::Poisson,
            warn_p: 0.05,
            alert_p: 0.01,
            min_count: 3,
            min_ratio: 1.5,
        };
        let busier = [c(200), c(200)];
        assert!(d.judge(c(260), &busier, c(0)).is_some());
        assert_eq!(guarded.judge(c(260), &busier, c(0)), None);
        assert!(guarded.judge(c(310), &busier, c(0)).is_some());
        // An empty history expects at least 0.5, not 0.
        assert_eq!(d.judge(c(2), &[c(0), c(0)], c(0)), None);
    }

    #[test]
    fn ewma_follows_recent_weeks() {
        let d = Detector::Baseline {
            test: Test::Ewma,
            warn_p: 0.05,
            alert_p: 0.01,
            min_count: 3,
            min_ratio: 1.0,
        };
        // Rising recent weeks: 30 is what the trend expects.
        let rising = [c(28), c(20), c(12), c(5)];
        assert_eq!(d.judge(c(30), &rising, c(0)), None);
        assert_eq!(d.judge(c(60), &rising, c(0)).unwrap().level, Level::Alert);
    }

    #[test]
    fn ratio_spikes_up_and_down() {
        let d = Detector::Ratio {
            spike_height: 3.0,
            direction: Direction::Both,
            min_current: 5,
            min_reference: 2,
        };
        assert!(d.judge(c(9), &[], c(3)).is_some());
        assert!(d.judge(c(8), &[], c(3)).is_none());
        assert!(
            d.judge(c(4), &[], c(1)).is_none(),
            "below the minimum counts"
        );
        assert!(d.judge(c(2), &[], c(9)).is_some(), "a drop");
        let up = Detector::Ratio {
            spike_height: 3.0,
            direction: Direction::Up,
            min_current: 5,
            min_reference: 2,
        };
        assert!(up.judge(c(2), &[], c(9)).is_none());
    }

    #[test]
    fn negative_share_jumps() {
        let d = Detector::NegativeShare {
            jump: 0.2,
            warn_p: 0.05,
            alert_p: 0.01,
            min_count: 5,
        };
        let usual = [
            Counts {
                total: 20,
                negative: 4,
            },
            Counts {
                total: 20,
                negative: 5,
            },
        ]; // 22.5 %
        let bad = Counts {
            total: 20,
            negative: 14,
        };
        assert_eq!(d.judge(bad, &usual, c(0)).unwrap().level, Level::Alert);
        let normal = Counts {
            total: 20,
            negative: 6,
        };
        assert_eq!(d.judge(normal, &usual, c(0)), None);
        let few = Counts {
            total: 4,
            negative: 4,
        };
        assert_eq!(d.judge(few, &usual, c(0)), None);
    }

    #[test]
    fn emerging_terms_are_new_or_rising() {
        let d = Detector::Emerging {
            warn_p: 0.05,
            alert_p: 0.01,
            min_count: 4,
            min_ratio: 2.0,
        };
        let f = d.judge(c(6), &[c(0), c(0), c(0)], c(0)).unwrap();
        assert!(f.new && f.level == Level::Alert);
        let f = d.judge(c(12), &[c(2), c(1), c(3)], c(0)).unwrap();
        assert!(!f.new);
        assert_eq!(d.judge(c(5), &[c(4), c(6), c(5)], c(0)), None);
    }

    #[test]
    fn parameters_are_checked_and_parsed() {
        let d: Detector = toml::from_str("kind = \"baseline\"\ntest = \"ewma\"").unwrap();
        assert_eq!(d.name(), "baseline");
        assert!(d.validate().is_ok());
        let bad: Detector = toml::from_str("kind = \"ratio\"\nspike_height = 0.5").unwrap();
        assert!(bad.validate().unwrap_err().contains("spike_height"));
        assert!(toml::from_str::<Detector>("kind = \"ratio\"\nspike_heigth = 3").is_err());
    }
}
