#!/usr/bin/env python3
"""Seeds the corpus of the `ingest` fuzz target (fuzz/fuzz_targets/ingest.rs)
from the test data: tests/data/sample.jsonl and the first lines of
tests/data/dev/*.tsv turned into JSON items, plus a few work-order events.

Each seed is the mode byte the target reads first (bit 0 JSONL, bit 1
events, bit 2 also as Kafka messages) followed by a body. Files are named by
their content's hash, so seeding again adds nothing twice.

Usage: fuzz/seed.py CORPUS_DIR (scripts/fuzz calls it).
"""

import glob
import hashlib
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
JSON, JSONL, EVENTS, KAFKA = 0, 1, 2, 4
TSV_LINES = 12  # per file


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = []

    with open(os.path.join(ROOT, "tests/data/sample.jsonl"), encoding="utf-8") as f:
        sample = [line.strip() for line in f if line.strip()]
    for line in sample:
        seeds.append((JSON, line))
        seeds.append((JSONL | KAFKA, line))
    seeds.append((JSONL, "\n".join(sample)))
    seeds.append((JSON, "[" + ",".join(sample) + "]"))

    for path in sorted(glob.glob(os.path.join(ROOT, "tests/data/dev/*.tsv"))):
        items = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                cols = line.rstrip("\n").split("\t")
                if len(cols) < 4:
                    continue
                items.append({"channel": cols[0], "text": cols[3]})
                if len(items) == TSV_LINES:
                    break
        lines = [json.dumps(i, ensure_ascii=False) for i in items]
        for line in lines:
            seeds.append((JSON, line))
        seeds.append((JSONL | KAFKA, "\n".join(lines)))
        seeds.append((JSON, json.dumps(items, ensure_ascii=False)))

    # Personal data of every kind the masker knows (made-up numbers), for
    # the mobile check to have something to work on.
    pii = [
        ("hotline_12345", "我的电话13812345678请回电"),
        ("hotline_12345", "电话：+86 138 1234 5678，座机(0310)8181234"),
        ("sms_revisit", "3，电话１３９１２３４５６７８没人回"),
        ("director_mailbox", "我叫王小明，身份证130102199003071234，住人民路123号4单元502室"),
        ("wechat", "卡号6222021234567890123，邮箱zhangsan@qq.com，车牌冀D12345，QQ号123456789"),
        ("online_message", "护照号E12345678，0310-8181234"),
    ]
    lines = [json.dumps({"channel": c, "text": t, "contact": "13812345678"},
                        ensure_ascii=False) for c, t in pii]
    for line in lines:
        seeds.append((JSON, line))
    seeds.append((JSONL | KAFKA, "\n".join(lines)))

    events = [
        {"order_id": "WO-20250530-001", "feedback_id": "dm-20250530-001",
         "event": "created", "unit": "天台山派出所", "at": "2025-05-30T18:45:00+08:00"},
        {"order_id": "WO-20250530-001", "event": "dispatched", "at": "2025-05-30T18:50:00+08:00"},
        {"order_id": "WO-20250530-001", "event": "resolved", "at": "2025-05-31T09:00:00+08:00"},
        {"order_id": 20250530002, "event": "revisited", "rating": 3,
         "at": "2025-05-31T10:00:00Z"},
        {"order_id": "13812345678", "event": "reopened", "unit": "刑警支队"},
    ]
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    for line in lines:
        seeds.append((EVENTS, line))
    seeds.append((EVENTS | JSONL, "\n".join(lines)))
    seeds.append((EVENTS, json.dumps(events, ensure_ascii=False)))

    new = 0
    for mode, body in seeds:
        data = bytes([mode]) + body.encode("utf-8")
        name = os.path.join(out, hashlib.sha1(data).hexdigest())
        if not os.path.exists(name):
            with open(name, "wb") as f:
                f.write(data)
            new += 1
    print(f"fuzz/seed.py: {len(seeds)} seeds, {new} new in {out}")


if __name__ == "__main__":
    main()
