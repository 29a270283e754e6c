//! The built-in demo feed of `minyi serve`: synthetic but realistic
//! feedback across the sixteen channels, the eighteen districts, every
//! topic and sentiment, with a daily rhythm, work orders that move through
//! their lifecycle, SMS revisits ("满意回1;基本满意回2;不满意回3") whose
//! dissatisfied answers are followed up, and an occasional burst of one
//! topic in one district. Written from this project's templates; it goes
//! through the same ingest path as HTTP (enrichment, store, live push).
//!
//! On a first start (empty store) it backfills the seven days before today
//! and today so far at the live rate (from 00:00 local time a week ago), so
//! "today vs yesterday" and the seven-day trends mean something (some
//! orders never resolved: overdue).
//! Then it runs live, a step every half second, until shutdown.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use serde_json::{Value, json};

use tokio_util::sync::CancellationToken;

use crate::enrich::regions::Gazetteer;
use crate::ingest::Ingestor;
use crate::query::{Filters, Query, bucket_start};

/// Relative arrival rate by local hour (1.0 at the busiest).
const RHYTHM: [f64; 24] = [
    0.22, 0.15, 0.12, 0.1, 0.1, 0.14, 0.25, 0.45, 0.75, 0.95, 1.0, 0.95, 0.7, 0.65, 0.85, 0.95,
    0.9, 0.8, 0.65, 0.55, 0.5, 0.45, 0.38, 0.3,
];

/// (channel, weight).
const CHANNELS: &[(&str, f64)] = &[
    ("hotline_12345", 22.0),
    ("director_mailbox", 8.0),
    ("scan_rate", 12.0),
    ("sms_revisit", 0.0), // only as revisits of work orders
    ("opinion_hotline", 7.0),
    ("phone_revisit", 3.0),
    ("wechat", 9.0),
    ("entrepreneur_hotline", 2.0),
    ("entrepreneur_email", 1.0),
    ("enterprise_sms", 2.0),
    ("supervisor", 1.5),
    ("letters_visits", 2.0),
    ("hotline_110", 10.0),
    ("online_message", 6.0),
    ("window_rating", 8.0),
    ("thanks_letter", 1.5),
];

/// Channels whose complaints become work orders.
const ORDER_CHANNELS: &[&str] = &[
    "hotline_12345",
    "director_mailbox",
    "opinion_hotline",
    "letters_visits",
    "online_message",
    "entrepreneur_hotline",
    "hotline_110",
    "supervisor",
];

/// (topic of the template, negative?, text). `{u}` is a unit, `{d}` a
/// district, `{p}` a phone number (masked by enrichment), `{r}` a road.
const TEMPLATES: &[(&str, bool, &str)] = &[
    (
        "response",
        true,
        "报警后等了四十分钟{u}才有人来，出警太慢了",
    ),
    (
        "response",
        true,
        "昨晚在{r}被人堵在家门口，打110说马上到，结果一个多小时没见人",
    ),
    (
        "response",
        true,
        "家里被盗报了警，民警到场看了一眼就走了，也没人回电话，联系电话{p}",
    ),
    (
        "response",
        false,
        "凌晨钥匙断在锁里，{u}民警十分钟就到场帮忙联系开锁，非常及时，感谢",
    ),
    (
        "response",
        false,
        "老人走失报警后，{u}民警连夜找回，处置得当，全家万分感谢",
    ),
    (
        "enforcement",
        true,
        "我的案子报案三个月了，{u}一直说在查，没有任何进展，希望给个说法",
    ),
    (
        "enforcement",
        true,
        "交通事故责任认定明显不公，办案民警和稀泥，要求重新调查",
    ),
    (
        "enforcement",
        false,
        "被骗的钱追回来了，{u}办案民警认真负责，依法办事，点赞",
    ),
    (
        "enforcement",
        true,
        "邻里纠纷调解了三次都没结果，{u}推诿说不归他们管",
    ),
    (
        "attitude",
        true,
        "去{u}办事，窗口民警态度恶劣，问两句就不耐烦",
    ),
    (
        "attitude",
        true,
        "打电话咨询，接电话的人态度很差，直接挂了我电话",
    ),
    (
        "attitude",
        false,
        "{u}的民警态度特别好，耐心解答了我所有问题",
    ),
    ("attitude", false, "值班民警热情周到，服务态度没得说"),
    (
        "household",
        false,
        "户籍业务不打烊，{u}民警服务好，办事效率高！",
    ),
    (
        "household",
        true,
        "孩子上户口跑了三趟还没办下来，每次说缺不同的材料",
    ),
    (
        "household",
        false,
        "身份证消磁了，孩子高考报名急用，{u}帮忙加急办理，太感谢了",
    ),
    (
        "household",
        true,
        "居住证办理要排很长的队，一上午只办了十几个人",
    ),
    (
        "household",
        neutral_marker(),
        "请问办理居住证需要带哪些材料，在{u}能办吗",
    ),
    (
        "exit_entry",
        false,
        "护照加急办理很快，出入境窗口的同志很专业",
    ),
    ("exit_entry", true, "港澳通行证预约系统老是打不开，预约不上"),
    (
        "exit_entry",
        neutral_marker(),
        "咨询一下签注办理的时间，周六上班吗",
    ),
    (
        "traffic",
        true,
        "{d}{r}路口红绿灯被树枝挡住了，存在安全隐患，希望尽快处理",
    ),
    (
        "traffic",
        false,
        "没想到交巡警这么快就消除了{r}的交通安全隐患，我很满意",
    ),
    (
        "traffic",
        true,
        "{r}早高峰堵得厉害，一个交警都看不到，乱停车没人管",
    ),
    (
        "traffic",
        true,
        "违章处理大厅人太多，等了两个小时，效率太低",
    ),
    (
        "public_order",
        true,
        "{d}{r}附近的烧烤摊每天凌晨还在噪音扰民，多次反映没人管",
    ),
    (
        "public_order",
        true,
        "小区门口经常有人聚众赌博，希望{u}加强巡逻",
    ),
    (
        "public_order",
        false,
        "自从{u}加强夜间巡逻，我们小区安全多了，感谢",
    ),
    (
        "fraud",
        true,
        "接到自称客服的电话{p}让我转账退款，被骗了两万，报案后没有回音",
    ),
    (
        "fraud",
        false,
        "反诈民警及时打电话劝阻，保住了我的养老钱，谢谢你们",
    ),
    (
        "fraud",
        neutral_marker(),
        "收到可疑短信说我医保卡被冻结，这是诈骗吗",
    ),
    (
        "business",
        true,
        "公司门口总有人堵门闹事，影响正常经营，报警多次没解决",
    ),
    (
        "business",
        false,
        "企业家服务热线响应很快，{u}上门帮我们解决了厂区治安问题，营商环境越来越好",
    ),
    (
        "business",
        neutral_marker(),
        "希望公安机关在办理企业事项上再简化一些流程",
    ),
    (
        "discipline",
        true,
        "{u}有民警上班时间玩手机，群众等着也不管",
    ),
    (
        "discipline",
        true,
        "办事的时候民警暗示找熟人，希望查一查作风问题",
    ),
    (
        "praise",
        false,
        "感谢{u}的民警同志，帮我找回了丢失的钱包，人民警察为人民",
    ),
    (
        "praise",
        false,
        "给{u}送锦旗，民警不怕辛苦帮我们追回了被盗的电动车",
    ),
    ("praise", false, "致敬最可爱的人，感谢交警在大雨中指挥交通"),
    (
        "suggestion",
        neutral_marker(),
        "建议在{r}增设一个交通信号灯，过马路太危险",
    ),
    (
        "suggestion",
        neutral_marker(),
        "希望派出所周末也能办理户籍业务，上班族没时间",
    ),
    (
        "suggestion",
        neutral_marker(),
        "建议局长信箱增加办理进度查询功能",
    ),
];

/// Marks a neutral template (neither praise nor complaint); reads better
/// in the table than a third boolean value.
const fn neutral_marker() -> bool {
    false
}

/// The city's regular complainants: a few thousand people write most of
/// the repeat complaints (重复诉求) a hotline hears.
const REGULARS: usize = 2000;

const ROADS: &[&str] = &[
    "人民路",
    "中华大街",
    "联纺路",
    "太中路与煤城大街",
    "滏河大街",
    "光明大街",
    "东柳大街",
    "北环路",
    "邯山街",
    "丛台路",
];

/// The two characters of a housing estate's name (150 estates; none
/// starts with 和, which reads as "and" between two places).
const ESTATE_FIRST: &[&str] = &[
    "锦", "阳", "金", "嘉", "幸", "滨", "丽", "春", "新", "东", "翠", "龙", "康", "盛", "紫",
];
const ESTATE_SECOND: &[&str] = &["华", "光", "地", "平", "福", "河", "景", "晖", "苑", "城"];

/// What a scheduled follow-up does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum FollowUp {
    Event {
        order: String,
        feedback: String,
        event: &'static str,
        unit: String,
        rating: Option<u8>,
    },
    /// An SMS revisit reply on the order's case, answering `rating`.
    Revisit {
        order: String,
        feedback: String,
        unit: String,
        district: String,
        rating: u8,
        /// The second revisit after a reopened case.
        second: bool,
    },
    /// The centre's call-back on a dissatisfied rating.
    Callback {
        case: String,
        unit: String,
        district: String,
        rating: u8,
    },
}

/// The generator: a timeline of arrivals and follow-ups on simulated
/// time, used for the backfill and then in real time.
pub struct Generator {
    rng: fastrand::Rng,
    rate: f64,
    tz: FixedOffset,
    districts: Vec<(String, Vec<String>)>,
    pending: BinaryHeap<Reverse<(i64, u64, FollowUp)>>,
    seq: u64,
    id_prefix: String,
    /// (until, topic template indexes, district) of a running burst.
    burst: Option<(i64, Vec<usize>, usize)>,
}

/// One step's output: raw feedback values and work-order events.
#[derive(Debug, Default)]
pub struct Step {
    pub items: Vec<Value>,
    pub events: Vec<Value>,
}

impl Generator {
    /// The generator of `minyi serve`'s feed, ids prefixed `demo-<seed>`.
    pub fn new(g: &Gazetteer, tz: FixedOffset, rate: f64, seed: u64) -> Generator {
        Generator::over(g, tz, rate, format!("demo-{seed:x}"), seed)
    }

    /// A generator outside the server (`minyi produce --demo`), ids
    /// prefixed with `id_prefix`.
    pub fn standalone(
        g: &Gazetteer,
        tz: FixedOffset,
        rate: f64,
        id_prefix: &str,
        seed: u64,
    ) -> Generator {
        Generator::over(g, tz, rate, id_prefix.to_owned(), seed)
    }

    /// A generator over a gazetteer's districts and units.
    fn over(g: &Gazetteer, tz: FixedOffset, rate: f64, id_prefix: String, seed: u64) -> Generator {
        Generator {
            rng: fastrand::Rng::with_seed(seed),
            rate,
            tz,
            districts: g
                .districts()
                .iter()
                .map(|d| {
                    (
                        d.clone(),
                        g.units_of(d).into_iter().map(str::to_owned).collect(),
                    )
                })
                .collect(),
            pending: BinaryHeap::new(),
            seq: 0,
            id_prefix,
            burst: None,
        }
    }

    fn rfc3339(&self, t: i64) -> String {
        crate::query::rfc3339(t, self.tz)
    }

    fn hour(&self, t: i64) -> usize {
        let off = i64::from(self.tz.local_minus_utc());
        ((t + off).rem_euclid(86_400) / 3600) as usize
    }

    fn next_id(&mut self, kind: &str) -> String {
        self.seq += 1;
        format!("{}-{kind}{}", self.id_prefix, self.seq)
    }

    /// A Poisson count with mean `lambda`.
    fn poisson(&mut self, lambda: f64) -> usize {
        if lambda > 30.0 {
            // Normal approximation; plenty for a demo.
            let u1 = self.rng.f64().max(1e-12);
            let u2 = self.rng.f64();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            return (lambda + z * lambda.sqrt()).round().max(0.0) as usize;
        }
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut p = self.rng.f64();
        while p > limit {
            k += 1;
            p *= self.rng.f64();
        }
        k
    }

    fn pick_weighted<'a>(&mut self, options: &'a [(&'a str, f64)]) -> &'a str {
        let total: f64 = options.iter().map(|o| o.1).sum();
        let mut x = self.rng.f64() * total;
        for (v, w) in options {
            if x < *w {
                return v;
            }
            x -= w;
        }
        options[0].0
    }

    fn phone(&mut self) -> String {
        format!(
            "1{}{:09}",
            [3, 5, 7, 8, 9][self.rng.usize(..5)],
            self.rng.u64(..1_000_000_000)
        )
    }

    /// Generates what happens in [from, to): arrivals at `rate_scale` ×
    /// the configured rate, and follow-ups due.
    pub fn step(&mut self, from: i64, to: i64, rate_scale: f64) -> Step {
        let mut out = Step::default();
        let dt = (to - from) as f64;
        // Bursts: about one every three hours, lasting 3–6 minutes at 1.2 items/s.
        if self.burst.as_ref().is_some_and(|b| b.0 <= from) {
            self.burst = None;
        }
        if self.burst.is_none() && rate_scale >= 1.0 && self.rng.f64() < dt / 10_800.0 {
            let topic = TEMPLATES[self.rng.usize(..TEMPLATES.len())].0;
            let negatives: Vec<usize> = (0..TEMPLATES.len())
                .filter(|&i| TEMPLATES[i].0 == topic && TEMPLATES[i].1)
                .collect();
            if !negatives.is_empty() {
                let district = self.rng.usize(..self.districts.len());
                self.burst = Some((from + 180 + self.rng.i64(0..180), negatives, district));
            }
        }
        let lambda = self.rate * RHYTHM[self.hour(from)] * dt * rate_scale;
        for _ in 0..self.poisson(lambda) {
            let t = from + self.rng.i64(0..(to - from).max(1));
            self.arrival(t, None, &mut out);
        }
        if let Some((until, templates, district)) = self.burst.clone() {
            // Only the part of the step the burst covers (backfill steps
            // are an hour long, bursts minutes).
            let covered = (until.min(to) - from).max(0) as f64;
            let n = self.poisson(1.2 * covered * rate_scale);
            for _ in 0..n {
                let t = from + self.rng.i64(0..(to - from).max(1));
                let tpl = templates[self.rng.usize(..templates.len())];
                self.arrival(t, Some((tpl, district)), &mut out);
            }
        }
        self.follow_ups_before(to, &mut out);
        out
    }

    /// The scheduled follow-ups (order events, revisits, call-backs) due
    /// before `to`.
    fn follow_ups_before(&mut self, to: i64, out: &mut Step) {
        while let Some(Reverse((due, _, _))) = self.pending.peek() {
            if *due >= to {
                break;
            }
            let Some(Reverse((due, _, follow))) = self.pending.pop() else {
                break;
            };
            self.follow_up(due, follow, out);
        }
    }

    fn schedule(&mut self, at: i64, f: FollowUp) {
        self.seq += 1;
        self.pending.push(Reverse((at, self.seq, f)));
    }

    /// One new item (and, for complaints on ticket channels, its order).
    fn arrival(&mut self, t: i64, forced: Option<(usize, usize)>, out: &mut Step) {
        let channel = if forced.is_some() {
            "hotline_12345"
        } else {
            self.pick_weighted(CHANNELS)
        };
        let (tpl, d) = match forced {
            Some(f) => f,
            None => {
                // Rating devices and letters are mostly content; tickets
                // mostly complaints or requests.
                let p_negative = match channel {
                    "thanks_letter" => 0.0,
                    "scan_rate" | "window_rating" | "phone_revisit" => 0.07,
                    _ => 0.35,
                };
                let negative = self.rng.f64() < p_negative;
                let choices: Vec<usize> = (0..TEMPLATES.len())
                    .filter(|&i| TEMPLATES[i].1 == negative)
                    .filter(|&i| channel != "thanks_letter" || TEMPLATES[i].0 == "praise")
                    .collect();
                (
                    choices[self.rng.usize(..choices.len())],
                    self.rng.usize(..self.districts.len()),
                )
            }
        };
        let (_, negative, template) = TEMPLATES[tpl];
        let (district, units) = self.districts[d].clone();
        let unit = if units.is_empty() {
            String::new()
        } else {
            units[self.rng.usize(..units.len())].clone()
        };
        let road = ROADS[self.rng.usize(..ROADS.len())];
        let phone = self.phone();
        let mut text = template
            .replace("{u}", if unit.is_empty() { "派出所" } else { &unit })
            .replace("{d}", &district)
            .replace("{r}", road)
            .replace("{p}", &phone);
        // Citizens name where they live: without it the demo's few dozen
        // sentences, each repeated all day, would read as a handful of
        // endless incidents. A burst (one matter in one place) names none,
        // and so forms one incident, as a real one would.
        if forced.is_none() && !template.contains("{r}") {
            let estate = format!(
                "{}{}小区",
                ESTATE_FIRST[self.rng.usize(..ESTATE_FIRST.len())],
                ESTATE_SECOND[self.rng.usize(..ESTATE_SECOND.len())]
            );
            text = format!("{estate}：{text}");
        }
        let id = self.next_id("f");
        let mut item = json!({
            "id": id,
            "channel": channel,
            "received_at": self.rfc3339(t),
            "text": text,
        });
        // Ticket systems send the district; other channels leave it to the gazetteer.
        if matches!(channel, "hotline_12345" | "hotline_110" | "letters_visits") {
            item["district"] = json!(district);
        }
        if self.rng.f64() < 0.3 {
            // One in seven from the city's regular complainants, who write
            // again and again (重复诉求).
            let phone = if self.rng.f64() < 0.15 {
                format!("1390000{:04}", self.rng.usize(..REGULARS))
            } else {
                self.phone()
            };
            item["contact"] = json!(phone);
        }
        match channel {
            // Rating devices: the rating is the message; the text is optional.
            "scan_rate" | "window_rating" => {
                let r = if negative {
                    3
                } else if self.rng.f64() < 0.85 {
                    1
                } else {
                    2
                };
                item["rating"] = json!(r);
                if self.rng.f64() < 0.4 {
                    item["text"] = json!("");
                }
            }
            "phone_revisit" => {
                item["rating"] = json!(if negative { 3 } else { 1 });
            }
            _ => {}
        }
        // The centre calls back every dissatisfied rating (电话回访); most
        // are talked through (不满意化解).
        if item["rating"] == json!(3) {
            let case = self.next_id("cb");
            item["case_ref"] = json!(case);
            let rating = if self.rng.f64() < 0.86 {
                1 + self.rng.u8(0..2)
            } else {
                3
            };
            let at = t + 3600 + self.rng.i64(0..40_000);
            self.schedule(
                at,
                FollowUp::Callback {
                    case,
                    unit: unit.clone(),
                    district: district.clone(),
                    rating,
                },
            );
        }
        if negative && ORDER_CHANNELS.contains(&channel) {
            let order = self.next_id("wo");
            item["case_ref"] = json!(order);
            out.events.push(json!({
                "order_id": order, "feedback_id": id, "event": "created",
                "unit": unit, "at": self.rfc3339(t),
            }));
            let mut at = t + 120 + self.rng.i64(0..780);
            for event in ["dispatched", "responded"] {
                self.schedule(
                    at,
                    FollowUp::Event {
                        order: order.clone(),
                        feedback: id.clone(),
                        event,
                        unit: unit.clone(),
                        rating: None,
                    },
                );
                at += 1200 + self.rng.i64(0..6000);
            }
            // 6% stay open (overdue once older than the SLA).
            if self.rng.f64() > 0.06 {
                let resolved = at + 1800 + self.rng.i64(0..30_000);
                self.schedule(
                    resolved,
                    FollowUp::Event {
                        order: order.clone(),
                        feedback: id.clone(),
                        event: "resolved",
                        unit: unit.clone(),
                        rating: None,
                    },
                );
                let rating = match self.rng.f64() {
                    x if x < 0.78 => 1,
                    x if x < 0.92 => 2,
                    _ => 3,
                };
                // The revisit SMS goes out; one citizen in seven never answers.
                let sent_at = resolved + 600 + self.rng.i64(0..1200);
                self.schedule(
                    sent_at,
                    FollowUp::Event {
                        order: order.clone(),
                        feedback: id.clone(),
                        event: "revisit_sent",
                        unit: unit.clone(),
                        rating: None,
                    },
                );
                if self.rng.f64() < 0.86 {
                    let revisit_at = sent_at + 600 + self.rng.i64(0..40_000);
                    self.schedule(
                        revisit_at,
                        FollowUp::Revisit {
                            order,
                            feedback: id,
                            unit,
                            district,
                            rating,
                            second: false,
                        },
                    );
                }
            }
        }
        out.items.push(item);
    }

    fn follow_up(&mut self, t: i64, f: FollowUp, out: &mut Step) {
        match f {
            FollowUp::Event {
                order,
                feedback,
                event,
                unit,
                rating,
            } => {
                let mut e = json!({
                    "order_id": order, "feedback_id": feedback, "event": event,
                    "unit": unit, "at": self.rfc3339(t),
                });
                if let Some(r) = rating {
                    e["rating"] = json!(r);
                }
                out.events.push(e);
            }
            FollowUp::Callback {
                case,
                unit,
                district,
                rating,
            } => {
                let texts: &[&str] = match rating {
                    3 => &["问题还是没解决", "还是不满意"],
                    _ => &["经回访，群众表示理解", "民警回访后问题已解决，表示满意"],
                };
                let id = self.next_id("cb");
                out.items.push(json!({
                    "id": id, "channel": "phone_revisit", "received_at": self.rfc3339(t),
                    "text": texts[self.rng.usize(..texts.len())], "rating": rating,
                    "case_ref": case, "district": district, "unit": unit,
                }));
            }
            FollowUp::Revisit {
                order,
                feedback,
                unit,
                district,
                rating,
                second,
            } => {
                let replies: &[&str] = match rating {
                    1 => &["1", "回复1", "满意", "1 谢谢"],
                    2 => &["2", "基本满意", "2，还行"],
                    _ => &["3，出警太慢", "3", "不满意，问题没解决", "3 态度不好"],
                };
                let reply = replies[self.rng.usize(..replies.len())];
                let id = self.next_id("sms");
                out.items.push(json!({
                    "id": id, "channel": "sms_revisit", "received_at": self.rfc3339(t),
                    "text": reply, "case_ref": order, "district": district, "unit": unit,
                }));
                out.events.push(json!({
                    "order_id": order, "feedback_id": feedback, "event": "revisited",
                    "unit": unit, "at": self.rfc3339(t), "rating": rating,
                }));
                // A dissatisfied answer reopens the case; most are then resolved.
                if rating == 3 && !second {
                    let reopened = t + 600 + self.rng.i64(0..3000);
                    for (event, at) in [
                        ("reopened", reopened),
                        ("resolved", reopened + 3600 + self.rng.i64(0..40_000)),
                    ] {
                        self.schedule(
                            at,
                            FollowUp::Event {
                                order: order.clone(),
                                feedback: feedback.clone(),
                                event,
                                unit: unit.clone(),
                                rating: None,
                            },
                        );
                    }
                    let second_rating = if self.rng.f64() < 0.85 { 1 } else { 3 };
                    let second_at = reopened + 50_000 + self.rng.i64(0..20_000);
                    self.schedule(
                        second_at - 900,
                        FollowUp::Event {
                            order: order.clone(),
                            feedback: feedback.clone(),
                            event: "revisit_sent",
                            unit: unit.clone(),
                            rating: None,
                        },
                    );
                    self.schedule(
                        second_at,
                        FollowUp::Revisit {
                            order,
                            feedback,
                            unit,
                            district,
                            rating: second_rating,
                            second: true,
                        },
                    );
                }
            }
        }
    }
}

/// `n` raw items as the demo would send them, received in the `spread`
/// seconds before `end` (unix seconds), without work orders: for benches
/// and load scripts.
pub fn sample_values(
    gazetteer: &Gazetteer,
    n: usize,
    end: i64,
    spread: i64,
    seed: u64,
) -> Vec<Value> {
    let (_, mut out) = arrivals(gazetteer, n, end, spread, seed);
    out.items.truncate(n);
    out.items
}

/// At least `n` new items at random times in the `spread` seconds before
/// `end`, with the generator that made them (its follow-ups scheduled).
fn arrivals(
    gazetteer: &Gazetteer,
    n: usize,
    end: i64,
    spread: i64,
    seed: u64,
) -> (Generator, Step) {
    let mut g = Generator::over(
        gazetteer,
        crate::config::default_timezone(),
        0.0,
        format!("load-{seed:x}"),
        seed,
    );
    let mut out = Step::default();
    while out.items.len() < n {
        let t = end - spread + g.rng.i64(0..spread.max(1));
        g.arrival(t, None, &mut out);
    }
    (g, out)
}

/// [`sample_values`] with the work orders the demo opens for them and
/// every follow-up due before `end` (order events, revisit replies,
/// call-backs), `n` items in all: a store as the centre's would be.
pub fn sample_step(gazetteer: &Gazetteer, n: usize, end: i64, spread: i64, seed: u64) -> Step {
    let (mut g, mut out) = arrivals(gazetteer, n, end, spread, seed);
    g.follow_ups_before(end, &mut out);
    out.items.truncate(n);
    out
}

/// What the demo feed sends over [from, to) (unix seconds) at `rate`
/// items/s: items with their daily rhythm and bursts, work-order events,
/// revisits and call-backs — for conformance tests, `minyi produce --demo`
/// and load scripts.
pub fn timeline(gazetteer: &Gazetteer, rate: f64, from: i64, to: i64, seed: u64) -> Step {
    let mut g = Generator::over(
        gazetteer,
        crate::config::default_timezone(),
        rate,
        format!("tl-{seed:x}"),
        seed,
    );
    let mut out = Step::default();
    let mut t = from;
    while t < to {
        let next = (t + 600).min(to);
        let step = g.step(t, next, 1.0);
        out.items.extend(step.items);
        out.events.extend(step.events);
        t = next;
    }
    out
}

/// Fills a store with `n` sample items received over the `spread` seconds
/// before `end` and their work orders ([`sample_step`]), enriched on all
/// cores, written `chunk` items (or events) per write (benches and load
/// scripts); items stored already count, so a second run reuses a filled
/// store. The items are written as history ([`crate::store::Store::write_history`]:
/// counted in the rollups once, at the end), as `minyi import` writes
/// them: item by item, days of random times cost SQLite a new rollup row
/// for nearly every count.
pub async fn fill_store(
    store: &dyn crate::store::Store,
    enricher: &crate::enrich::Enricher,
    n: usize,
    end: i64,
    spread: i64,
    chunk: usize,
) -> Result<usize, crate::store::StoreError> {
    use rayon::prelude::*;
    let stored = match store
        .query(crate::query::Query::Summary(Filters::default()), end)
        .await?
    {
        crate::query::Answer::Summary(s) => s.received as usize,
        _ => 0,
    };
    let mut done = stored;
    while done < n {
        let m = 100_000.min(n - done);
        let step = sample_step(enricher.gazetteer(), m, end, spread, done as u64 + 1);
        let at = enricher.now();
        let items: Vec<_> = step
            .items
            .par_iter()
            .filter_map(|v| enricher.enrich_value(v, at).ok())
            .collect();
        let events: Vec<_> = step
            .events
            .iter()
            .filter_map(|v| crate::workorder::parse_event(v, at).ok())
            .collect();
        let writes: Vec<_> = items
            .chunks(chunk)
            .map(|c| {
                store.write_history(crate::store::WriteBatch {
                    items: c.to_vec(),
                    events: Vec::new(),
                })
            })
            .chain(events.chunks(chunk).map(|c| {
                store.write(crate::store::WriteBatch {
                    items: Vec::new(),
                    events: c.to_vec(),
                })
            }))
            .collect();
        for w in writes {
            w.await?;
        }
        done += m;
        eprint!("\rloaded {done}/{n} items");
    }
    if done > stored {
        eprintln!();
        store.settle_history().await?;
    }
    Ok(done)
}

/// Writes one step through the ingest path; a store error is reported
/// and the feed goes on.
async fn ingest(ingestor: &Ingestor, step: Step) {
    let Step { items, events } = step;
    for chunk in items.chunks(5000) {
        if let Err(e) = ingestor
            .feedback(chunk.iter().cloned().map(Ok).collect())
            .await
        {
            tracing::warn!("demo feed: {e}");
        }
    }
    for chunk in events.chunks(5000) {
        if let Err(e) = ingestor
            .events(chunk.iter().cloned().map(Ok).collect())
            .await
        {
            tracing::warn!("demo feed: {e}");
        }
    }
}

/// Runs the demo feed into `ingestor` until `shutdown`: `rate` items/s at
/// the busiest hour, after a backfill of history when the store is empty
/// and `backfill` is set.
pub async fn run(
    ingestor: Arc<Ingestor>,
    tz: FixedOffset,
    rate: f64,
    backfill: bool,
    shutdown: CancellationToken,
) {
    let clock = || ingestor.enricher.now().timestamp();
    let now = clock();
    let mut generator = Generator::new(ingestor.enricher.gazetteer(), tz, rate, now as u64);
    let newest = Query::Feedback {
        filters: Filters::default(),
        limit: 1,
        cursor: None,
    };
    let empty = matches!(
        ingestor.store.query(newest, now).await,
        Ok(crate::query::Answer::Feedback { items, .. }) if items.is_empty()
    );
    let stop = shutdown;
    if empty && backfill {
        let off = i64::from(tz.local_minus_utc());
        let yesterday = bucket_start(now, 86_400, off) - 86_400;
        let start = yesterday - 6 * 86_400;
        let mut t = start;
        let mut stored = 0usize;
        // Screens say that today's figures are partial until it is done.
        ingestor.live.loading_history(Some(t));
        while t < now && !stop.is_cancelled() {
            let next = (t + 3600).min(now);
            // Every day at the live rate: a sparser week before made the
            // seven-day trends climb tenfold two days ago, a surge no one
            // reported. The demo's rate keeps the first start quick.
            let step = generator.step(t, next, 1.0);
            stored += step.items.len();
            ingest(&ingestor, step).await;
            t = next;
            ingestor.live.loading_history(Some(t));
        }
        ingestor.live.loading_history(None);
        tracing::info!(
            "demo feed: backfilled {stored} items since {}",
            DateTime::from_timestamp(start, 0)
                .unwrap_or_default()
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M")
        );
    }
    let mut last = clock();
    let mut every = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let now = clock();
        if now <= last {
            continue;
        }
        let step = generator.step(last, now, 1.0);
        last = now;
        ingest(&ingestor, step).await;
    }
}
