#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the synthetic traces of tests/data/traces/ (docs/trace.md format).

They follow what a Linux guest's virtio-pci driver does to MSI-X, from
drivers/pci/msi/msi.c and drivers/virtio/virtio_pci_common.c:

  bring-up   read Message Control; write Enable|Function Mask; mask every
             entry and read its Vector Control back; write every entry's
             first message (early activation); clear Function Mask; then per
             vector: request_irq() rewrites its message and unmasks it, and
             the driver points the config or a queue vector at it (use)
  affinity   the entry is masked around the message rewrite (Linux >= 5.14)
  unbind     per vector: free_irq() masks it and the queue vector is reset
             (unuse); then every entry is masked and MSI-X is disabled

Run it from this directory: python3 gen-synthetic.py
"""
import json

CAP = 64          # capability at 0x40: Message Control at 0x42
TABLE_BAR, TABLE_OFF, PBA_OFF = 1, 0, 2048


def line(out, **kv):
    out.append(json.dumps(kv, separators=(",", ":")))


def msg(v, gen):
    # x86: address 0xfee00000 | dest APIC id << 12, data = IDT vector
    return 0xFEE00000 | ((v + gen) % 4) << 12, 0x21 + v + 16 * gen


def write_entry(out, v, gen):
    addr, data = msg(v, gen)
    base = TABLE_OFF + 16 * v
    line(out, type="mmio", dev=0, op="write", bar=TABLE_BAR, off=base, size=4,
         val=addr)
    line(out, type="mmio", dev=0, op="write", bar=TABLE_BAR, off=base + 4,
         size=4, val=0)
    line(out, type="mmio", dev=0, op="write", bar=TABLE_BAR, off=base + 8,
         size=4, val=data)


def ctrl(out, v, masked):
    line(out, type="mmio", dev=0, op="write", bar=TABLE_BAR,
         off=TABLE_OFF + 16 * v + 12, size=4, val=1 if masked else 0)


def bring_up(out, n, uses=True):
    qs = n - 1
    line(out, type="config", dev=0, op="read", off=CAP + 2, size=2, val=qs)
    line(out, type="config", dev=0, op="write", off=CAP + 2, size=2,
         val=0xC000 | qs)
    for v in range(n):
        ctrl(out, v, True)
        line(out, type="mmio", dev=0, op="read", bar=TABLE_BAR,
             off=TABLE_OFF + 16 * v + 12, size=4, val=1)
    for v in range(n):
        write_entry(out, v, 0)
    line(out, type="config", dev=0, op="read", off=CAP + 2, size=2,
         val=0xC000 | qs)
    line(out, type="config", dev=0, op="write", off=CAP + 2, size=2,
         val=0x8000 | qs)
    # config vector: request_irq, then the config vector register
    write_entry(out, 0, 1)
    ctrl(out, 0, False)
    if uses:
        line(out, type="use", dev=0, vector=0, ret=0)
    # each queue: the queue vector register, then request_irq
    for v in range(1, n):
        if uses:
            line(out, type="use", dev=0, vector=v, ret=0)
        write_entry(out, v, 1)
        ctrl(out, v, False)


def affinity(out, v, gen, notify_while_masked):
    ctrl(out, v, True)
    write_entry(out, v, gen)
    if notify_while_masked:
        line(out, type="notify", dev=0, vector=v)
    ctrl(out, v, False)


def unbind(out, n, uses=True):
    for v in range(1, n):
        ctrl(out, v, True)
        if uses:
            line(out, type="unuse", dev=0, vector=v)
    ctrl(out, 0, True)
    if uses:
        line(out, type="unuse", dev=0, vector=0)
    for v in range(n):
        ctrl(out, v, True)
    line(out, type="config", dev=0, op="write", off=CAP + 2, size=2,
         val=n - 1)


def header(out, name, n):
    line(out, type="trace", version=1, source="gen-synthetic.py")
    line(out, type="device", dev=0, name=name, nr_vectors=n, cap_offset=CAP,
         table_bir=TABLE_BAR, table_offset=TABLE_OFF, pba_bir=TABLE_BAR,
         pba_offset=PBA_OFF)


def write(path, out):
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def timed(out, gap_before):
    """Add t_ns: 10 us per line, and 5 ms of idle guest before the lines
    whose index is in gap_before."""
    t, res = 0, []
    for i, text in enumerate(out):
        if i == 0:
            res.append(text)
            continue
        t += 5_000_000 if i in gap_before else 10_000
        res.append(text[:-1] + ',"t_ns":%d}' % t)
    return res


# 5 vectors (virtio-blk: config + 4 queues): bring-up, I/O on two queues,
# an affinity change of vector 2 with an interrupt while it is masked.
out = []
header(out, "virtio-blk", 5)
bring_up(out, 5)
line(out, type="notify", dev=0, vector=1)
line(out, type="notify", dev=0, vector=2)
affinity(out, 2, 2, True)
write("linux-virtio-blk-5.jsonl", out)

# The same with a clock: the guest idles 5 ms between request_irq() of
# vectors 2 and 3 (where a VMM's event loop flushes deferred routes).
gap = out.index('{"type":"use","dev":0,"vector":3,"ret":0}')
write("linux-virtio-blk-5-timed.jsonl", timed(out, {gap}))

# 17 vectors (virtio-net: config + 8 rx/tx pairs): bring-up, affinity
# changes of vectors 3 and 9, then unbind and bind again.
out = []
header(out, "virtio-net", 17)
bring_up(out, 17)
affinity(out, 3, 2, False)
affinity(out, 9, 2, True)
unbind(out, 17)
bring_up(out, 17)
write("linux-virtio-net-17.jsonl", out)

# 17 vectors of an assigned device (an NVMe controller: admin + 16 I/O
# queues): no use lines, so every vector counts as used from the start.
# Bring-up, an affinity change of vector 3 with an interrupt while masked,
# unbind and bind.
out = []
header(out, "nvme", 17)
bring_up(out, 17, uses=False)
affinity(out, 3, 2, True)
unbind(out, 17, uses=False)
bring_up(out, 17, uses=False)
write("linux-assigned-nvme-17.jsonl", out)

# 5 vectors of an assigned device: bring-up, an interrupt while vector 1 is
# masked, a snapshot saved and loaded (a migration), then vector 1 unmasked:
# the pending bit crosses the migration and is replayed once.
out = []
header(out, "nvme", 5)
bring_up(out, 5, uses=False)
ctrl(out, 1, True)
line(out, type="notify", dev=0, vector=1)
line(out, type="snapshot", dev=0, op="save")
line(out, type="snapshot", dev=0, op="load")
ctrl(out, 1, False)
write("linux-assigned-migrate-5.jsonl", out)
