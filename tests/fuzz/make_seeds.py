#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_api.c into corpus/ (run from anywhere).

Each seed is a readable program in the byte encoding fuzz_api.c decodes:
an opcode byte, then that operation's argument bytes. Keep in step with
fuzz_api.c's op_* functions."""
import os

CREATE, OPEN, SUB, UNSUB, PUB, FLUSH, STATS, BAD, DESTROY, SHUTDOWN, PUB_BATCH = range(11)
# fuzz_api.c's tables, by index
CAP = {2: 0, 4: 1, 8: 2, 64: 3, 4096: 4, 1 << 31: 5, 0: 6, 1: 7, 3: 8, 1000: 9, 0xFFFFFFFF: 10}
PAYLOAD = {0: 0, 1: 1, 16: 2, 100: 3, 256: 4, 4096: 5, 65536: 6, 1 << 20: 7,
           0xFFFFFFFF: 8, 0xFFFFFFF0: 9, 1 << 31: 10, 1 << 17: 11}
MAX_TOPICS = {1: 0, 2: 1, 3: 2, 8: 3, 65536: 4, 0: 5, (1 << 24) + 1: 6}
BATCH = {1: 0, 2: 1, 64: 2, 65536: 3, 0: 4, 65537: 5}
BLOCK, FAIL, DROP, BADPOLICY = range(4)
CHARS = {'a': 0, 'b': 1, '.': 2, 'z': 3, '*': 4, '>': 5, ' ': 6, '\x7f': 7}
OK, ERR, ONWARD = range(3)
SIZE_ZERO, SIZE_MAX_PAYLOAD, SIZE_OVER, SIZE_HUGE = range(4)


def create(workers=2, max_topics=8, batch=64, yield_wait=False, invalid=None):
    shape = workers % 3 | (4 if yield_wait else 0)
    if invalid == 'workers':
        shape |= 0xC0
    elif invalid == 'wait':
        shape |= 0x80
    return [CREATE, shape, MAX_TOPICS[max_topics] | BATCH[batch] << 3]


def name(text):
    if len(text) < 12:
        len_byte = len(text)
    else:
        assert len(text) >= 250 and len(text) % 2 == 0
        len_byte = 250 + (len(text) - 250) // 2
    return [len_byte] + [CHARS[c] for c in text]


def open_topic(text, cap=64, payload=256, policy=BLOCK, parallel=False, bad_flags=False,
               reopen=None, same_cfg=False):
    a = CAP[cap] | policy << 4
    b = PAYLOAD[payload] | (0x10 if parallel else 0) | (0x80 if bad_flags else 0)
    how = 1 if reopen is None else (reopen * 4) | (0x80 if same_cfg else 0)
    return [OPEN] + name(text) + [a, b, how]


def sub(topic, kind=OK, onward=0):
    return [SUB, kind + 3 * topic, onward]


def unsub(index, asynchronous=False):
    return [UNSUB, index * 2 + (1 if asynchronous else 0)]


def pub(topic, count=1, hops=0, size=SIZE_MAX_PAYLOAD, null=False, op=PUB):
    """count: 1..64 for PUB, 0..63 for PUB_BATCH."""
    a = topic | (0x80 if null else 0)
    b = ((count - 1) if op == PUB else count) & 0x3F | hops << 6
    if isinstance(size, int) and size >= 4:  # an explicit small size
        return [op, a, b, 4, size]
    return [op, a, b, size]


def batch(topic, count=8, hops=0, size=SIZE_MAX_PAYLOAD, null=False):
    return pub(topic, count, hops, size, null, op=PUB_BATCH)


SEEDS = {
    'basic': create() + open_topic('ab.z') + sub(0) + pub(0, 64, size=4) + [FLUSH, STATS, 0, DESTROY],
    'fan_out': create() + open_topic('ab.ba') + sub(0) + sub(0, ERR) + sub(0) + pub(0, 64) +
               pub(0, 64) + [STATS, 0, FLUSH, DESTROY],
    'onward_cycle': create() + open_topic('a', parallel=True) + open_topic('b', cap=8) +
                    sub(0, ONWARD, 1) + sub(1, ONWARD, 0) + sub(1, ONWARD, 1) +
                    pub(0, 64, hops=3) + pub(1, 64, hops=3) + [STATS, 1, FLUSH, DESTROY],
    'policies': create(workers=1) + open_topic('z', cap=2, policy=FAIL) +
                open_topic('b', cap=2, policy=DROP, parallel=True) + sub(0, ERR) + sub(1) +
                pub(0, 64) + pub(1, 64) + [STATS, 0, STATS, 1, FLUSH, DESTROY],
    'bad_names': create() + open_topic('') + open_topic('.a') + open_topic('a..b') +
                 open_topic('a*') + open_topic('a>') + open_topic(' ') + open_topic('a.') +
                 open_topic('\x7f') + open_topic('a' * 254) + open_topic('a' * 256) + [DESTROY],
    'bad_configs': create() + open_topic('a', cap=0) + open_topic('a', cap=1) +
                   open_topic('a', cap=3) + open_topic('a', cap=0xFFFFFFFF) +
                   open_topic('b', policy=BADPOLICY) + open_topic('z', bad_flags=True) + [DESTROY],
    'huge_rings': create() + open_topic('a', cap=1 << 31, payload=1 << 31) +
                  open_topic('b', cap=1 << 31, payload=0xFFFFFFFF) +
                  open_topic('z', cap=1 << 31, payload=0xFFFFFFF0) +
                  open_topic('a.a', cap=1 << 31, payload=1 << 17) +
                  open_topic('b.b', cap=4096, payload=0xFFFFFFFF) + open_topic('zz', cap=2, payload=0) +
                  pub(0, 3, size=SIZE_ZERO) + [FLUSH, DESTROY],
    'topic_limits': create(max_topics=1) + open_topic('a') + open_topic('b') +
                    open_topic('z', reopen=0, same_cfg=True) + open_topic('z', cap=8, reopen=0) +
                    [DESTROY],
    'bad_buses': create(invalid='workers') + create(invalid='wait') + create(max_topics=0) +
                 create(max_topics=(1 << 24) + 1) + create(batch=0) + create(batch=65537) +
                 create(batch=1, yield_wait=True) + [BAD, 1, 2, 3, 4, DESTROY],
    'publish_sizes': create() + open_topic('z.z', payload=16) + open_topic('b', payload=0) +
                     sub(0) + sub(1) + pub(0, size=SIZE_OVER) + pub(0, size=SIZE_HUGE) +
                     pub(0, 2, null=True, size=SIZE_MAX_PAYLOAD) + pub(1, 4, size=SIZE_ZERO) +
                     pub(1, null=True, size=SIZE_ZERO) + pub(0, 8, size=5) + [FLUSH, DESTROY],
    'unsubscribe': create() + open_topic('zab', parallel=True) + sub(0) + sub(0, ERR) +
                   sub(0, ONWARD, 0) + pub(0, 64, hops=2) + unsub(0, True) + pub(0, 64) +
                   unsub(0) + pub(0, 64, hops=1) + unsub(0, True) + [DESTROY],
    'shutdown': create() + open_topic('a') + open_topic('b', parallel=True, policy=DROP, cap=2) +
                sub(0, ONWARD, 1) + sub(1) + pub(0, 64, hops=3) + pub(1, 64) + [SHUTDOWN] +
                pub(0) + open_topic('z') + sub(0) + unsub(0) + [STATS, 0, FLUSH, SHUTDOWN, DESTROY],
    'batches': create() + open_topic('a', cap=8) + open_topic('b', cap=2, policy=FAIL) +
               open_topic('z', cap=2, policy=DROP) + sub(0) + sub(1, ERR) + sub(2) +
               batch(0, 40) + batch(1, 40) + batch(2, 60) + batch(0, 8, size=SIZE_OVER) +
               batch(0, 8, null=True) + batch(1, 0) + batch(0, 3, size=SIZE_ZERO) +
               [FLUSH, DESTROY],
    'cycles': (create(workers=1) + open_topic('a') + sub(0) + pub(0, 16) + [DESTROY]) * 3 +
              create(workers=0) + open_topic('a', parallel=True) + sub(0) + pub(0, 16) + [BAD, 0, 0, 0, 0],
}

if __name__ == '__main__':
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
    os.makedirs(out, exist_ok=True)
    for seed_name, program in SEEDS.items():
        with open(os.path.join(out, seed_name), 'wb') as f:
            f.write(bytes(program))
    print(f'wrote {len(SEEDS)} seeds to {out}')
