/* SPDX-License-Identifier: MIT */
/*
 * Spec conformance: one test per rule R1..R42 of docs/rules.md
 * (PCIe Base 6.0 §6.1.4, §7.7.2), each
 * driving the public API the way a VMM's config and MMIO handlers and a
 * device model would, and judging only what a guest or the host could
 * observe: capability, table and PBA read-backs, and the recording backend's
 * deliveries (conformance_oracle.h). Where the spec leaves the result
 * undefined (R15, R19, R25, R38, R39, R41) the test checks the choice
 * documented at the top of lib/model.c and in libmsix.h.
 *
 * Standard layout (helpers.h): capability at 0x50, table at BAR 0 + 0, PBA
 * at BAR 0 + the page after the table.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "conformance_oracle.h"

#define EN PCI_MSIX_FLAGS_ENABLE
#define FM PCI_MSIX_FLAGS_MASKALL

/* Enable MSI-X, program every entry with its test message, leave FM 0 and
 * every vector masked (Linux's bring-up before request_irq). */
static void bring_up(struct tdev *t)
{
	linux_bringup(t);
	ck_delivered_none(t);
}

static void unmask(struct tdev *t, uint32_t v)
{
	ck_assert_int_eq(set_vmask(t, v, false), 0);
}

static void mask(struct tdev *t, uint32_t v)
{
	ck_assert_int_eq(set_vmask(t, v, true), 0);
}

/* ======================================================================== */
/* A. Capability structure in configuration space                           */
/* ======================================================================== */

START_TEST(test_R1_header_read_only)
{
	static const uint32_t widths[] = { 1, 2, 4 };
	static const uint32_t vals[] = { 0, 0xffffffffu };
	struct libmsix_config cfg = test_config(8);
	struct tdev t;
	uint32_t v;

	cfg.next_cap = 0x7c;
	t = tdev_new_cfg(&cfg, 0, 0);
	for (uint32_t o = 0; o < 4; o++)
		for (size_t w = 0; w < 3; w++)
			for (size_t k = 0; k < 2; k++) {
				ck_assert_int_eq(cfg_write(&t, TEST_CAP + o,
							   widths[w], vals[k]), 0);
				ck_assert_uint_eq(cfg_read(&t, TEST_CAP, 1),
						  PCI_CAP_ID_MSIX);
				ck_assert_uint_eq(cfg_read(&t, TEST_CAP + 1, 1),
						  0x7c);
				ck_assert_uint_eq(cfg_read(&t, TEST_CAP, 2),
						  0x7c11);
				ck_assert_uint_eq(cfg_read(&t, TEST_CAP, 4) &
							  0xffff,
						  0x7c11);
			}
	/* Only the capability's bytes are overlaid on the VMM's value. */
	v = 0xa5a5a5a5;
	ck_assert_int_eq(libmsix_config_read(t.dev, TEST_CAP - 4, 4, &v), 0);
	ck_assert_uint_eq(v, 0xa5a5a5a5);
	v = 0xa5a5a5a5;
	ck_assert_int_eq(libmsix_config_read(t.dev, TEST_CAP - 2, 4, &v), 0);
	ck_assert_uint_eq(v, 0x7c11a5a5);
	v = 0xa5a5a5a5;
	ck_assert_int_eq(libmsix_config_read(t.dev, TEST_CAP + 12, 4, &v), 0);
	ck_assert_uint_eq(v, 0xa5a5a5a5);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R2_table_size_is_n_minus_1_read_only)
{
	static const uint32_t ns[] = { 1,  2,    31,   32,   63,  64,
				       65, 1024, 1025, 2047, 2048 };
	static const uint32_t widths[] = { 1, 2, 4 };

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		struct tdev t = tdev_new(ns[i]);
		uint32_t q = ns[i] - 1;

		ck_assert_uint_eq(msgctl(&t), q);
		ck_assert_uint_eq(cfg_read(&t, TEST_CAP, 4) >> 16, q);
		ck_assert_uint_eq(cfg_read(&t, TEST_CAP + 2, 1), q & 0xff);
		ck_assert_uint_eq(cfg_read(&t, TEST_CAP + 3, 1), q >> 8);
		ck_assert_uint_eq(libmsix_nr_vectors(t.dev), ns[i]);
		for (uint32_t o = 0; o < 4; o++)
			for (size_t w = 0; w < 3; w++) {
				ck_assert_int_eq(cfg_write(&t, TEST_CAP + o,
							   widths[w],
							   0xffffffffu), 0);
				ck_assert_uint_eq(msgctl(&t) & PCI_MSIX_FLAGS_QSIZE,
						  q);
				ck_assert_int_eq(cfg_write(&t, TEST_CAP + o,
							   widths[w], 0), 0);
				ck_assert_uint_eq(msgctl(&t) & PCI_MSIX_FLAGS_QSIZE,
						  q);
			}
		tdev_free(&t);
	}
}
END_TEST

START_TEST(test_R3_n_outside_1_to_2048_rejected)
{
	/* 2049 and 4096 would survive as 1 and 0 if truncated to 11 bits,
	 * 65537 as 1 if truncated to 16. */
	static const uint32_t bad[] = { 0, 2049, 4096, 65535, 65537,
					UINT32_MAX };
	struct libmsix_config cfg = test_config(1);

	/* A BAR large enough for any of them, so only R3 can fail. */
	cfg.bar_size[0] = 1ull << 40;
	cfg.pba_offset = 0x80000000u;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.nr_vectors = bad[i];
		ck_create_rejects(&cfg, "(R3)");
	}
	cfg.nr_vectors = 1;
	ck_create_accepts(&cfg);
	cfg.nr_vectors = 2048;
	ck_create_accepts(&cfg);
}
END_TEST

START_TEST(test_R4_msgctl_bits_13_11_reserved)
{
	struct tdev t = tdev_new(8);

	ck_assert_int_eq(set_msgctl(&t, 0x3800), 0);
	ck_assert_uint_eq(msgctl(&t), 0x0007);
	ck_assert_int_eq(set_msgctl(&t, 0xf800), 0);
	ck_assert_uint_eq(msgctl(&t), EN | FM | 0x0007);
	ck_assert_int_eq(cfg_write(&t, TEST_CAP + 3, 1, 0x38), 0);
	ck_assert_uint_eq(cfg_read(&t, TEST_CAP + 3, 1), 0x00);
	ck_assert_int_eq(cfg_write(&t, TEST_CAP + 3, 1, 0xf8), 0);
	ck_assert_uint_eq(cfg_read(&t, TEST_CAP + 3, 1), 0xc0);
	ck_assert_int_eq(cfg_write(&t, TEST_CAP, 4, 0x38000000), 0);
	ck_assert_uint_eq(cfg_read(&t, TEST_CAP, 4) >> 16, 0x0007);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R5_function_mask_keeps_vector_masks)
{
	struct tdev t = tdev_new(8);
	const struct want w0[] = { WANT(0) };

	ck_assert_uint_eq(msgctl(&t) & FM, 0); /* default 0 */
	bring_up(&t);
	unmask(&t, 0);
	unmask(&t, 3);
	ck_assert_int_eq(set_msgctl(&t, EN | FM), 0);
	ck_assert_uint_eq(msgctl(&t), EN | FM | 7);
	ck_assert(libmsix_function_masked(t.dev));
	for (uint32_t v = 0; v < 8; v++)
		ck_assert_uint_eq(vctrl(&t, v), (v == 0 || v == 3) ? 0 : 1);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_LATCHED);
	ck_assert(pba_bit(&t, 0));
	ck_delivered_none(&t);
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	ck_assert_uint_eq(msgctl(&t), EN | 7);
	for (uint32_t v = 0; v < 8; v++)
		ck_assert_uint_eq(vctrl(&t, v), (v == 0 || v == 3) ? 0 : 1);
	ck_delivered(&t, w0, 1);
	ck_assert(!pba_bit(&t, 0));
	tdev_free(&t);
}
END_TEST

START_TEST(test_R6_enable_default_0_and_gates_delivery)
{
	struct tdev t = tdev_new(4);
	const struct want w1[] = { WANT(1) };

	ck_assert_uint_eq(msgctl(&t), 3);
	ck_assert(!libmsix_enabled(t.dev));
	/* The table works while MSI-X is off; messages do not. */
	set_msg(&t, 1, test_addr(1), test_data(1));
	unmask(&t, 1);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_DROPPED);
	ck_delivered_none(&t);
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	ck_assert_uint_eq(msgctl(&t), EN | 3);
	ck_assert(libmsix_enabled(t.dev));
	ck_delivered_none(&t);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_DELIVERED);
	ck_delivered(&t, w1, 1);
	ck_assert_int_eq(set_msgctl(&t, 0), 0);
	ck_assert_uint_eq(msgctl(&t), 3);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_DROPPED);
	ck_delivered_none(&t);
	tdev_free(&t);
}
END_TEST

/* Does a config write of @size bytes at @off cover byte @b? */
static bool covers(uint32_t off, uint32_t size, uint32_t b)
{
	return off <= b && b < off + size;
}

START_TEST(test_R7_only_bits_15_14_writable)
{
	static const uint32_t widths[] = { 1, 2, 4 };
	static const uint32_t vals[] = { 0, 0xffffffffu };
	static const uint16_t initial[] = { 0, EN | FM };
	/* Table BAR 2 + 0x2000, PBA BAR 4 + 0x3008: non-zero registers. */
	static const uint8_t ro[PCI_CAP_MSIX_SIZEOF] = {
		0x11, 0x60, 0x07, 0x00, 0x02, 0x20, 0x00, 0x00,
		0x0c, 0x30, 0x00, 0x00,
	};
	const uint32_t ctl_hi = TEST_CAP + PCI_MSIX_FLAGS + 1;
	struct libmsix_config cfg = test_config(8);
	struct tdev t;

	cfg.next_cap = 0x60;
	cfg.table_bir = 2;
	cfg.table_offset = 0x2000;
	cfg.pba_bir = 4;
	cfg.pba_offset = 0x3008;
	cfg.bar_type[2] = LIBMSIX_BAR_MEM32;
	cfg.bar_size[2] = 0x4000;
	cfg.bar_type[4] = LIBMSIX_BAR_MEM32;
	cfg.bar_size[4] = 0x4000;
	t = tdev_new_cfg(&cfg, 0, 0);
	/* Every start from 3 bytes before the capability to its last byte. */
	for (uint32_t off = TEST_CAP - 3; off < TEST_CAP + 12; off++)
		for (size_t w = 0; w < 3; w++)
			for (size_t k = 0; k < 2; k++)
				for (size_t i = 0; i < 2; i++) {
					uint8_t before[12], after[12], hi;

					ck_assert_int_eq(set_msgctl(&t, initial[i]), 0);
					cap_bytes(&t, before);
					ck_assert_int_eq(cfg_write(&t, off, widths[w],
								   vals[k]), 0);
					cap_bytes(&t, after);
					hi = covers(off, widths[w], ctl_hi)
						     ? (uint8_t)(vals[k] >> (8 * (ctl_hi - off)))
						     : before[3];
					for (uint32_t b = 0; b < 12; b++) {
						uint8_t want = b == 3 ? (hi & 0xc0) : ro[b];

						ck_assert_msg(after[b] == want,
							      "write 0x%x size %u at cap%+d: byte %u is 0x%02x, want 0x%02x",
							      vals[k], widths[w],
							      (int)(off - TEST_CAP), b,
							      after[b], want);
					}
					ck_assert(libmsix_enabled(t.dev) ==
						  !!(hi & 0x80));
					ck_assert(libmsix_function_masked(t.dev) ==
						  !!(hi & 0x40));
				}
	tdev_free(&t);
}
END_TEST

START_TEST(test_R8_control_write_any_width_and_offset)
{
	/* Vector 0 unmasked: what notify does shows Enable and FM took
	 * effect in the engine, not only in the read-back. */
	static const int result[4] = {
		[0] = LIBMSIX_DROPPED,
		[FM >> 14] = LIBMSIX_DROPPED,
		[EN >> 14] = LIBMSIX_DELIVERED,
		[(EN | FM) >> 14] = LIBMSIX_LATCHED,
	};
	static const uint32_t widths[] = { 1, 2, 4 };
	const uint32_t ctl_hi = TEST_CAP + PCI_MSIX_FLAGS + 1;
	struct tdev t = tdev_new(4);
	unsigned forms = 0;

	bring_up(&t);
	unmask(&t, 0);
	for (uint32_t bits = 0; bits < 4; bits++) {
		uint16_t target = (uint16_t)(bits << 14);

		for (size_t w = 0; w < 3; w++)
			for (uint32_t off = ctl_hi + 1 - widths[w]; off <= ctl_hi;
			     off++) {
				/* Garbage everywhere but the two bits. */
				uint32_t val = 0xa5a5a5a5u;
				uint32_t sh = 8 * (ctl_hi - off);
				int r;

				val &= ~(0xffu << sh);
				val |= (uint32_t)(0x3f | target >> 8) << sh;
				/* Start from the complement. */
				ck_assert_int_eq(set_msgctl(&t, (EN | FM) & ~target), 0);
				libmsix_clear_pending(t.dev, 0);
				libmsix_recorder_clear(t.rec);
				ck_assert_int_eq(cfg_write(&t, off, widths[w], val), 0);
				ck_assert_uint_eq(msgctl(&t), target | 3);
				ck_assert_uint_eq(cfg_read(&t, TEST_CAP, 2), 0x0011);
				ck_assert(libmsix_enabled(t.dev) == !!(target & EN));
				ck_assert(libmsix_function_masked(t.dev) ==
					  !!(target & FM));
				r = libmsix_notify(t.dev, 0);
				ck_assert_int_eq(r, result[bits]);
				if (r == LIBMSIX_DELIVERED) {
					const struct want w0[] = { WANT(0) };

					ck_delivered(&t, w0, 1);
				} else {
					ck_delivered_none(&t);
				}
				forms++;
			}
	}
	/* 1 + 2 + 4 forms per target. */
	ck_assert_uint_eq(forms, 4 * 7);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R9_bir_encodings)
{
	struct libmsix_config base = test_config(4), cfg;
	struct tdev t;

	ck_create_accepts(&base);
	/* Reserved BIRs 6 and 7, for either structure. */
	for (uint8_t bir = 6; bir <= 7; bir++) {
		cfg = base;
		cfg.table_bir = bir;
		ck_create_rejects(&cfg, "(R9)");
		cfg = base;
		cfg.pba_bir = bir;
		ck_create_rejects(&cfg, "(R9)");
	}
	/* Type 1 header: only BARs 0 and 1 exist. */
	cfg = base;
	cfg.header_type = 1;
	cfg.bar_type[0] = LIBMSIX_BAR_MEM32;
	for (int i = 1; i < 6; i++) {
		cfg.bar_type[i] = LIBMSIX_BAR_MEM32;
		cfg.bar_size[i] = 0x2000;
	}
	for (uint8_t bir = 2; bir <= 5; bir++) {
		struct libmsix_config c2 = cfg;

		c2.table_bir = bir;
		ck_create_rejects(&c2, "(R9)");
		c2 = cfg;
		c2.pba_bir = bir;
		ck_create_rejects(&c2, "(R9)");
	}
	cfg.table_bir = 1;
	ck_create_accepts(&cfg);
	/* BIR naming the upper DWORD of 64-bit BAR 0, whatever BAR 1 says. */
	for (int k = 0; k < 2; k++) {
		cfg = base;
		cfg.bar_type[1] = k ? LIBMSIX_BAR_MEM32 : LIBMSIX_BAR_NONE;
		cfg.bar_size[1] = 0x2000;
		cfg.table_bir = 1;
		ck_create_rejects(&cfg, "(R9)");
		cfg.table_bir = 0;
		cfg.pba_bir = 1;
		cfg.pba_offset = 0;
		ck_create_rejects(&cfg, "(R9)");
	}
	/* I/O BAR and unimplemented BAR. */
	for (int k = 0; k < 2; k++) {
		cfg = base;
		cfg.bar_type[2] = k ? LIBMSIX_BAR_IO : LIBMSIX_BAR_NONE;
		cfg.bar_size[2] = 0x2000;
		cfg.table_bir = 2;
		ck_create_rejects(&cfg, "(R9)");
		cfg.table_bir = 0;
		cfg.pba_bir = 2;
		cfg.pba_offset = 0;
		ck_create_rejects(&cfg, "(R9)");
	}
	/* Accepted: 64-bit BARs 0 and 2, table in BAR 2, PBA in 32-bit BAR
	 * 5; the guest reads back offset | BIR. */
	cfg = base;
	cfg.bar_type[2] = LIBMSIX_BAR_MEM64;
	cfg.bar_size[2] = 0x1000;
	cfg.bar_type[5] = LIBMSIX_BAR_MEM32;
	cfg.bar_size[5] = 0x1000;
	cfg.table_bir = 2;
	cfg.table_offset = 0x10;
	cfg.pba_bir = 5;
	cfg.pba_offset = 0x18;
	t = tdev_new_cfg(&cfg, 0, 0);
	ck_assert_uint_eq(cfg_read(&t, TEST_CAP + PCI_MSIX_TABLE, 4), 0x12);
	ck_assert_uint_eq(cfg_read(&t, TEST_CAP + PCI_MSIX_PBA, 4), 0x1d);
	ck_assert_uint_eq(bar_rd32(&t, 2, 0x10 + PCI_MSIX_ENTRY_VECTOR_CTRL), 1);
	ck_assert_uint_eq(bar_rd64(&t, 5, 0x18), 0);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R10_offsets_qword_aligned)
{
	static const uint32_t bad[] = { 0x1004, 0x1001, 0x1002, 0x1007 };
	struct libmsix_config cfg = test_config(4);

	cfg.bar_size[0] = 0x4000;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.table_offset = bad[i];
		cfg.pba_offset = 0x3000;
		ck_create_rejects(&cfg, "(R10)");
		cfg.table_offset = 0;
		cfg.pba_offset = bad[i];
		ck_create_rejects(&cfg, "(R10)");
	}
	cfg.table_offset = 0x1008;
	cfg.pba_offset = 0x3000;
	ck_create_accepts(&cfg);
	cfg.table_offset = 0;
	cfg.pba_offset = 0x1008;
	ck_create_accepts(&cfg);
}
END_TEST

START_TEST(test_R11_fit_in_bar_and_no_overlap)
{
	struct libmsix_config cfg = test_config(4);
	struct tdev t;
	uint64_t v;

	/* Overlap, either way round; adjacency (one shared page) is fine. */
	cfg.bar_size[0] = 0x2000;
	cfg.table_offset = 0x1000;	/* [0x1000, 0x1040) */
	cfg.pba_offset = 0x1038;
	ck_create_rejects(&cfg, "(R11)");
	cfg.pba_offset = 0x1000;
	ck_create_rejects(&cfg, "(R11)");
	cfg.pba_offset = 0x1040;
	ck_create_accepts(&cfg);
	cfg.pba_offset = 0x0ff8;	/* [0xff8, 0x1000) */
	ck_create_accepts(&cfg);
	cfg = test_config(65);		/* PBA of 16 bytes */
	cfg.bar_size[0] = 0x4000;
	cfg.table_offset = 0x1000;
	cfg.pba_offset = 0x0ff8;	/* [0xff8, 0x1008) */
	ck_create_rejects(&cfg, "(R11)");

	/* Past the end of the BAR. */
	cfg = test_config(4);
	cfg.bar_size[0] = 0x1000;
	cfg.pba_offset = 0;
	cfg.table_offset = 0x1000 - 64 + 8;
	ck_create_rejects(&cfg, "(R11)");
	cfg.table_offset = 0x1000 - 64;
	ck_create_accepts(&cfg);
	cfg.table_offset = 0x100;
	cfg.pba_offset = 0x1000;
	ck_create_rejects(&cfg, "(R11)");
	cfg.pba_offset = 0x1000 - 8;
	ck_create_accepts(&cfg);
	cfg.bar_size[0] = 0;
	ck_create_rejects(&cfg, "(R11)");

	/* offset + 16 * N wraps 32 bits: 0xfffffff8 + 0x8000. */
	cfg = test_config(2048);
	cfg.bar_size[0] = 1ull << 32;
	cfg.pba_offset = 0;
	cfg.table_offset = 0xfffffff8u;
	ck_create_rejects(&cfg, "(R11)");
	cfg.table_offset = 0x1000;
	cfg.pba_offset = 0xfffffff8u;	/* + 256 wraps too */
	ck_create_rejects(&cfg, "(R11)");
	/* The same end exactly at 4 GiB is a legal layout, and works. */
	cfg.pba_offset = 0;
	cfg.table_offset = 0xffff8000u;
	t = tdev_new_cfg(&cfg, 0, 0);
	ck_assert_int_eq(tbl_write(&t, 0xfffffff0u + 8, 4, 0xabcd), 0);
	ck_assert_uint_eq(bar_rd64(&t, 0, 0xfffffff0u + 8), 1ull << 32 | 0xabcd);
	v = 0x1234;
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, 1ull << 32, 4, &v), -ENOENT);
	ck_assert_uint_eq(v, 0x1234);
	tdev_free(&t);

	/* The PBA in another BAR at an overlapping offset is legal (V15):
	 * the BIR decides, never the offset alone. */
	cfg = test_config(4);
	cfg.pba_bir = 2;
	cfg.pba_offset = 0;
	cfg.bar_type[2] = LIBMSIX_BAR_MEM32;
	cfg.bar_size[2] = 0x1000;
	t = tdev_new_cfg(&cfg, 0, 0);
	bring_up(&t);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	ck_assert_uint_eq(bar_rd64(&t, 0, 0), test_addr(0));
	ck_assert_uint_eq(bar_rd64(&t, 2, 0), 1u << 1);
	/* A PBA write does not reach the table entry at the same offset. */
	ck_assert_int_eq(libmsix_mmio_write(t.dev, 2, 0, 8, 0), 0);
	ck_assert_uint_eq(bar_rd64(&t, 0, 0), test_addr(0));
	ck_assert_uint_eq(bar_rd64(&t, 2, 0), 1u << 1);
	/* A table write does not reach the PBA. */
	ck_assert_int_eq(libmsix_mmio_write(t.dev, 0, 0, 4, 0xfee0f000u), 0);
	ck_assert_uint_eq(bar_rd64(&t, 2, 0), 1u << 1);
	ck_assert_uint_eq(bar_rd32(&t, 0, 0), 0xfee0f000u);
	/* BAR 2 past the 8-byte PBA is not MSI-X, though BAR 0 + 16 is. */
	v = 0x55;
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 2, 16, 4, &v), -ENOENT);
	ck_assert_uint_eq(v, 0x55);
	ck_assert_uint_eq(bar_rd32(&t, 0, 16), (uint32_t)test_addr(1));
	tdev_free(&t);
}
END_TEST

/*
 * R12: the spec forbids non-MSI-X CSRs in the table's and PBA's naturally
 * aligned 4 KiB ranges. libmsix has no way to know about other CSRs: the
 * config has no field for them, and a table page with free space is not
 * itself a violation (QEMU's ivshmem puts table and PBA in one 4 KiB BAR
 * and nothing else). So there is no check to make; what libmsix guarantees
 * is that every byte outside the table and PBA stays the VMM's: -ENOENT,
 * the read value untouched, the write without effect. A VMM whose device
 * does share the page forwards those bytes itself (V14).
 */
START_TEST(test_R12_other_bytes_of_the_page_left_to_vmm)
{
	struct libmsix_config cfg = test_config(4);
	struct libmsix_stats before, after;
	struct tdev t;

	cfg.pba_offset = 0x800;		/* ivshmem: one page for both */
	cfg.bar_size[0] = 0x2000;
	t = tdev_new_cfg(&cfg, 0, 0);
	bring_up(&t);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	before = counters(&t);
	for (uint64_t off = 0; off < 0x2000; off++) {
		bool msix = off < 64 || (off >= 0x800 && off < 0x808);
		uint64_t v = 0x5a;
		int rc = libmsix_mmio_read(t.dev, 0, off, 1, &v);

		ck_assert_int_eq(rc, msix ? 0 : -ENOENT);
		if (!msix) {
			ck_assert_uint_eq(v, 0x5a);
			ck_assert_int_eq(libmsix_mmio_write(t.dev, 0, off, 1, 0xff),
					 -ENOENT);
			ck_assert_int_eq(libmsix_mmio_write(t.dev, 0, off & ~3ull,
							    4, 0xffffffffu),
					 -ENOENT);
		}
	}
	/* Other BARs are the VMM's entirely. */
	for (uint32_t bir = 1; bir < 6; bir++) {
		uint64_t v = 0x5a;

		ck_assert_int_eq(libmsix_mmio_read(t.dev, bir, 0, 4, &v), -ENOENT);
		ck_assert_uint_eq(v, 0x5a);
		ck_assert_int_eq(libmsix_mmio_write(t.dev, bir, 0, 4, 0), -ENOENT);
	}
	after = counters(&t);
	ck_assert_uint_eq(after.bad_accesses, before.bad_accesses);
	for (uint32_t v = 0; v < 4; v++) {
		ck_assert_uint_eq(bar_rd64(&t, 0, 16 * v), test_addr(v));
		ck_assert_uint_eq(bar_rd64(&t, 0, 16 * v + 8),
				  1ull << 32 | test_data(v));
	}
	ck_assert_uint_eq(bar_rd64(&t, 0, 0x800), 1u << 2);
	ck_delivered_none(&t);
	tdev_free(&t);
}
END_TEST

/*
 * R13: setting MSI-X Enable deasserts INTx through the intx callback, on
 * the 0 -> 1 edge only. MSI and MSI-X enabled together is undefined by the
 * spec and outside libmsix: it models only the MSI-X capability, the VMM
 * owns MSI and must arbitrate. What libmsix guarantees is that it neither
 * reads nor changes bytes of another capability, so such a state is
 * deterministic on libmsix's side: MSI-X keeps behaving per its own bits.
 */
START_TEST(test_R13_enable_deasserts_intx)
{
	struct obs o;
	struct libmsix_config cfg = obs_config(4, &o);
	struct tdev t = tdev_new_cfg(&cfg, 0, 0);
	const uint32_t msi_cap = 0x60; /* the VMM's MSI capability */
	const struct want w1[] = { WANT(1) };
	uint32_t v;

	ck_assert_uint_eq(o.intx, 0);
	ck_assert_int_eq(set_msgctl(&t, FM), 0);	/* FM alone: no edge */
	ck_assert_uint_eq(o.intx, 0);
	ck_assert_int_eq(set_msgctl(&t, EN | FM), 0);
	ck_assert_uint_eq(o.intx, 1);
	ck_assert_int_eq(set_msgctl(&t, EN), 0);	/* FM change only */
	ck_assert_uint_eq(o.intx, 1);
	ck_assert_int_eq(set_msgctl(&t, EN), 0);	/* same value again */
	ck_assert_uint_eq(o.intx, 1);
	ck_assert_int_eq(cfg_write(&t, TEST_CAP, 4, 0x80000000u), 0);
	ck_assert_uint_eq(o.intx, 1);
	ck_assert_int_eq(set_msgctl(&t, 0), 0);	/* disable: no call */
	ck_assert_uint_eq(o.intx, 1);
	ck_assert_int_eq(cfg_write(&t, TEST_CAP + 3, 1, 0x80), 0);
	ck_assert_uint_eq(o.intx, 2);

	/* The guest also sets the VMM's MSI Enable: libmsix ignores it. */
	ck_assert_int_eq(cfg_write(&t, msi_cap + 2, 2, 0x0001), 0);
	v = 0x00810005;
	ck_assert_int_eq(libmsix_config_read(t.dev, msi_cap, 4, &v), 0);
	ck_assert_uint_eq(v, 0x00810005);
	ck_assert_uint_eq(msgctl(&t), EN | 3);
	set_msg(&t, 1, test_addr(1), test_data(1));
	unmask(&t, 1);
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_DELIVERED);
	ck_delivered(&t, w1, 1);
	ck_assert_uint_eq(o.intx, 2);
	tdev_free(&t);
}
END_TEST

/* ======================================================================== */
/* B. Table entry layout                                                     */
/* ======================================================================== */

START_TEST(test_R14_entry_layout)
{
	static const uint32_t ents[] = { 0, 1, 7 };
	struct tdev t = tdev_new(8);
	struct want w[3];

	for (size_t i = 0; i < 3; i++) {
		uint32_t v = ents[i], base = 16 * v;

		ck_assert_int_eq(tbl_write(&t, base + 0, 4, 0xfee00000u | v << 4), 0);
		ck_assert_int_eq(tbl_write(&t, base + 4, 4, 0x0a000000u | v), 0);
		ck_assert_int_eq(tbl_write(&t, base + 8, 4, 0xda7a0000u | v), 0);
		ck_assert_int_eq(tbl_write(&t, base + 12, 4, v == 1), 0);
		w[i] = (struct want){ v, (uint64_t)(0x0a000000u | v) << 32 |
					      (0xfee00000u | v << 4),
				      0xda7a0000u | v };
	}
	for (uint32_t v = 0; v < 8; v++) {
		uint32_t base = 16 * v;
		bool set = v == 0 || v == 1 || v == 7;
		uint32_t lo = set ? 0xfee00000u | v << 4 : 0;
		uint32_t hi = set ? 0x0a000000u | v : 0;
		uint32_t data = set ? 0xda7a0000u | v : 0;
		uint32_t ctl = set ? v == 1 : 1;

		ck_assert_uint_eq(tbl_read(&t, base + 0, 4), lo);
		ck_assert_uint_eq(tbl_read(&t, base + 4, 4), hi);
		ck_assert_uint_eq(tbl_read(&t, base + 8, 4), data);
		ck_assert_uint_eq(tbl_read(&t, base + 12, 4), ctl);
		ck_assert_uint_eq(tbl_read(&t, base + 0, 8), (uint64_t)hi << 32 | lo);
		ck_assert_uint_eq(tbl_read(&t, base + 8, 8),
				  (uint64_t)ctl << 32 | data);
	}
	/* Delivery uses the entry at 16 * v and nothing else. */
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DELIVERED);
	ck_assert_int_eq(libmsix_notify(t.dev, 7), LIBMSIX_DELIVERED);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	unmask(&t, 1);
	ck_delivered(&t, w, 3);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R15_address_bits_1_0_read_zero)
{
	struct tdev t = tdev_new(2);
	const struct want w[] = {
		{ 0, 0xfee00000u, test_data(0) },
		{ 0, 0x1fee01000ull, test_data(0) },
	};

	bring_up(&t);
	ck_assert_int_eq(tbl_write(&t, 0, 4, 0xfee00003u), 0);
	ck_assert_uint_eq(tbl_read(&t, 0, 4), 0xfee00000u);
	ck_assert_int_eq(tbl_write(&t, 4, 4, 0), 0);
	unmask(&t, 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DELIVERED);
	mask(&t, 0);
	ck_assert_int_eq(tbl_write(&t, 0, 8, 0x1fee01003ull), 0);
	ck_assert_uint_eq(tbl_read(&t, 0, 8), 0x1fee01000ull);
	unmask(&t, 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DELIVERED);
	ck_delivered(&t, w, 2);
	ck_assert_int_eq(tbl_write(&t, 0, 4, 0xffffffffu), 0);
	ck_assert_uint_eq(tbl_read(&t, 0, 4), 0xfffffffcu);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R16_upper_address_composes_64_bit)
{
	struct tdev t = tdev_new(2);
	const struct want w[] = {
		{ 0, 0xfee01000u, 7 },
		{ 1, 0x12345678fee02000ull, 8 },
	};
	struct libmsix_msg m;

	bring_up(&t);
	set_msg(&t, 0, 0xfee01000u, 7);
	set_msg(&t, 1, 0x12345678fee02000ull, 8);
	unmask(&t, 0);
	unmask(&t, 1);
	ck_assert_uint_eq(routes_of(&t, 0, &m), 1);
	ck_assert_uint_eq(m.address, 0xfee01000u);
	ck_assert_uint_eq(routes_of(&t, 1, &m), 1);
	ck_assert_uint_eq(m.address, 0x12345678fee02000ull);
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DELIVERED);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_DELIVERED);
	ck_delivered(&t, w, 2);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R17_data_sent_unmodified)
{
	static const uint32_t datas[] = { 0xffffffffu, 0x00010000u, 0 };
	struct tdev t = tdev_new(1);
	struct libmsix_msg m;

	bring_up(&t);
	for (size_t i = 0; i < 3; i++) {
		const struct want w[] = { { 0, test_addr(0), datas[i] } };

		mask(&t, 0);
		ck_assert_int_eq(tbl_write(&t, 8, 4, datas[i]), 0);
		ck_assert_uint_eq(tbl_read(&t, 8, 4), datas[i]);
		unmask(&t, 0);
		ck_assert_uint_eq(routes_of(&t, 0, &m), 1);
		ck_assert_uint_eq(m.data, datas[i]);
		ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DELIVERED);
		ck_delivered(&t, w, 1);
	}
	tdev_free(&t);
}
END_TEST

START_TEST(test_R18_vector_mask_default_1_rw)
{
	struct tdev t = tdev_new(2048);
	const struct want w[] = { WANT(2047) };

	for (uint32_t v = 0; v < 2048; v++) {
		ck_assert_uint_eq(vctrl(&t, v), 1);
		ck_assert_uint_eq(tbl_read(&t, 16 * v + 8, 8) >> 32, 1);
	}
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	set_msg(&t, 2047, test_addr(2047), test_data(2047));
	ck_assert_int_eq(libmsix_notify(t.dev, 2047), LIBMSIX_LATCHED);
	ck_assert_int_eq(tbl_write(&t, 16 * 2047 + 12, 4, 0), 0);
	ck_assert_uint_eq(vctrl(&t, 2047), 0);
	ck_delivered(&t, w, 1);
	ck_assert_int_eq(libmsix_notify(t.dev, 2047), LIBMSIX_DELIVERED);
	ck_delivered(&t, w, 1);
	ck_assert_int_eq(tbl_write(&t, 16 * 2047 + 12, 4, 1), 0);
	ck_assert_uint_eq(vctrl(&t, 2047), 1);
	ck_assert_int_eq(libmsix_notify(t.dev, 2047), LIBMSIX_LATCHED);
	ck_delivered_none(&t);
	tdev_free(&t);
}
END_TEST

/* R19, libmsix's choice: bits 31:1 are RsvdP (no TPH): read 0, writes to
 * them ignored; they never affect masking or delivery. */
START_TEST(test_R19_vector_control_reserved_bits_read_zero)
{
	struct tdev t = tdev_new(2);
	const struct want w[] = { WANT(0) };
	struct libmsix_vector_info info;

	bring_up(&t);
	ck_assert_int_eq(tbl_write(&t, 12, 4, 0xffffffffu), 0);
	ck_assert_uint_eq(vctrl(&t, 0), 1);
	ck_assert_int_eq(libmsix_get_vector_info(t.dev, 0, &info), 0);
	ck_assert_uint_eq(info.vector_control, 1);
	ck_assert(info.masked);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_LATCHED);
	ck_delivered_none(&t);
	ck_assert_int_eq(tbl_write(&t, 12, 4, 0xfffffffeu), 0);
	ck_assert_uint_eq(vctrl(&t, 0), 0);
	ck_delivered(&t, w, 1); /* the latched one, once */
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DELIVERED);
	ck_delivered(&t, w, 1);
	/* Steering Tag bits alone: still unmasked, still read 0. */
	ck_assert_int_eq(tbl_write(&t, 12, 4, 0xffff0000u), 0);
	ck_assert_uint_eq(vctrl(&t, 0), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DELIVERED);
	ck_delivered(&t, w, 1);
	/* Through a QWORD write of Data + Vector Control. */
	ck_assert_int_eq(tbl_write(&t, 8, 8, 0xfffe0001ull << 32 | test_data(0)), 0);
	ck_assert_uint_eq(tbl_read(&t, 8, 8), 1ull << 32 | test_data(0));
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_LATCHED);
	ck_delivered_none(&t);
	tdev_free(&t);
}
END_TEST

/* ======================================================================== */
/* C. Pending Bit Array                                                      */
/* ======================================================================== */

START_TEST(test_R20_pba_layout)
{
	static const uint32_t pend[] = { 0, 31, 32, 63, 64, 129 };
	struct tdev t = tdev_new(130);
	const uint32_t pba = TEST_PBA_OFFSET(130);

	bring_up(&t);
	for (size_t i = 0; i < 6; i++)
		ck_assert_int_eq(libmsix_notify(t.dev, pend[i]), LIBMSIX_LATCHED);
	ck_assert_uint_eq(bar_rd64(&t, 0, pba + 0),
			  1ull << 0 | 1ull << 31 | 1ull << 32 | 1ull << 63);
	ck_assert_uint_eq(bar_rd64(&t, 0, pba + 8), 1ull << 0);
	ck_assert_uint_eq(bar_rd64(&t, 0, pba + 16), 1ull << 1);
	ck_assert_uint_eq(bar_rd32(&t, 0, pba + 0), 1u << 0 | 1u << 31);
	ck_assert_uint_eq(bar_rd32(&t, 0, pba + 4), 1u << 0 | 1u << 31);
	ck_assert_uint_eq(bar_rd32(&t, 0, pba + 8), 1u << 0);
	ck_assert_uint_eq(bar_rd32(&t, 0, pba + 12), 0);
	ck_assert_uint_eq(bar_rd32(&t, 0, pba + 16), 1u << 1);
	ck_assert_uint_eq(bar_rd32(&t, 0, pba + 20), 0);
	/* ceil(130 / 64) * 8 = 24 bytes: the next QWORD is not the PBA. */
	{
		uint64_t v = 7;

		ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, pba + 24, 8, &v),
				 -ENOENT);
		ck_assert_uint_eq(v, 7);
	}
	ck_delivered_none(&t);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R21_pba_bits_past_n_read_zero)
{
	struct tdev t = tdev_new(65);
	const uint32_t pba = TEST_PBA_OFFSET(65);

	bring_up(&t);
	ck_assert_uint_eq(bar_rd64(&t, 0, pba + 8), 0);
	for (uint32_t v = 0; v < 65; v++)
		ck_assert_int_eq(libmsix_notify(t.dev, v), LIBMSIX_LATCHED);
	ck_assert_uint_eq(bar_rd64(&t, 0, pba + 0), UINT64_MAX);
	ck_assert_uint_eq(bar_rd64(&t, 0, pba + 8), 1);
	ck_assert_int_eq(libmsix_mmio_write(t.dev, 0, pba + 8, 8, UINT64_MAX), 0);
	ck_assert_int_eq(libmsix_mmio_write(t.dev, 0, pba + 12, 4, 0xffffffffu), 0);
	ck_assert_int_eq(libmsix_mmio_write(t.dev, 0, pba + 8, 4, 0xffffffffu), 0);
	ck_assert_uint_eq(bar_rd64(&t, 0, pba + 8), 1);
	ck_assert_uint_eq(bar_rd32(&t, 0, pba + 8), 1);
	ck_assert_uint_eq(bar_rd32(&t, 0, pba + 12), 0);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R22_pba_writes_ignored)
{
	static const uint32_t sizes[] = { 4, 8 };
	static const uint64_t vals[] = { 0, UINT64_MAX };
	struct tdev t = tdev_new(100);
	const uint32_t pba = TEST_PBA_OFFSET(100); /* 16 bytes */
	const struct want w[] = { WANT(3), WANT(70) };
	uint64_t bad = counters(&t).bad_accesses, writes = 0;

	bring_up(&t);
	ck_assert_int_eq(libmsix_notify(t.dev, 3), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_notify(t.dev, 70), LIBMSIX_LATCHED);
	/* Every start touching the PBA, aligned or not, straddling or not. */
	for (uint32_t off = pba - 7; off < pba + 16; off++)
		for (size_t s = 0; s < 2; s++)
			for (size_t k = 0; k < 2; k++) {
				if (off + sizes[s] <= pba)
					continue;
				ck_assert_int_eq(libmsix_mmio_write(t.dev, 0, off,
								    sizes[s],
								    vals[k]), 0);
				writes++;
				ck_assert_uint_eq(bar_rd64(&t, 0, pba), 1ull << 3);
				ck_assert_uint_eq(bar_rd64(&t, 0, pba + 8),
						  1ull << (70 - 64));
			}
	ck_assert_uint_eq(counters(&t).bad_accesses, bad + writes);
	ck_delivered_none(&t);
	for (uint32_t v = 0; v < 100; v++)
		unmask(&t, v);
	ck_delivered(&t, w, 2);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R23_pending_default_0)
{
	struct tdev t = tdev_new(2048);
	const uint32_t pba = TEST_PBA_OFFSET(2048);

	for (int round = 0; round < 3; round++) {
		for (uint32_t q = 0; q < 2048 / 64; q++)
			ck_assert_uint_eq(bar_rd64(&t, 0, pba + 8 * q), 0);
		/* Then enabled (all masked), then FM set and cleared. */
		ck_assert_int_eq(set_msgctl(&t, round == 0 ? EN : EN | FM), 0);
		ck_assert_int_eq(set_msgctl(&t, EN), 0);
	}
	ck_delivered_none(&t);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R24_condition_cleared_while_masked)
{
	struct tdev t = tdev_new(4);
	const struct want w[] = { WANT(2) };

	bring_up(&t);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	ck_assert(pba_bit(&t, 2));
	ck_assert_int_eq(libmsix_clear_pending(t.dev, 2), 0);
	ck_assert(!pba_bit(&t, 2));
	unmask(&t, 2);
	ck_delivered_none(&t);
	mask(&t, 2);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	ck_assert(pba_bit(&t, 2));
	unmask(&t, 2);
	ck_delivered(&t, w, 1);
	ck_assert(!pba_bit(&t, 2));

	/* Pure polling: vector 1 stays masked, the driver reads the PBA. */
	for (int i = 0; i < 3; i++) {
		ck_assert(!pba_bit(&t, 1));
		ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
		ck_assert(pba_bit(&t, 1));
		ck_assert_int_eq(libmsix_clear_pending(t.dev, 1), 0);
	}
	ck_delivered_none(&t);
	tdev_free(&t);
}
END_TEST

/* R24 when the interrupt bypasses libmsix (a host vector masked at the
 * backend caught it): the PBA read asks the backend, so it is still exact,
 * and the unmask delivers it once. */
START_TEST(test_R24_host_caught_interrupt_shows_in_pba)
{
	struct tdev t = tdev_new(4);
	const struct want w[] = { WANT(3) };

	bring_up(&t);
	unmask(&t, 3);
	mask(&t, 3); /* host vector kept, masked at the host */
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(libmsix_recorder_set_poll(t.rec, 3), 0);
	ck_assert(pba_bit(&t, 3));
	ck_assert(pba_bit(&t, 3)); /* consumed once, kept in the PBA */
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec, LIBMSIX_REC_POLL), 1);
	unmask(&t, 3);
	ck_delivered(&t, w, 1);
	ck_assert(!pba_bit(&t, 3));
	tdev_free(&t);
}
END_TEST

/* ======================================================================== */
/* D. Access size, alignment and bounds                                      */
/* ======================================================================== */

/* What the guest should read from the table and PBA, byte by byte. */
struct shadow {
	uint32_t n, table_off, pba_off;
	uint8_t table[16 * 8];
	uint8_t pba[8];
};

static void shadow_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* libmsix's documented R25 choice for a read of @size at @off of BAR 0. */
static int shadow_read(const struct shadow *s, uint64_t off, uint32_t size,
		       uint64_t *val)
{
	const struct {
		uint64_t base, len;
		const uint8_t *bytes;
	} st[2] = {
		{ s->table_off, 16ull * s->n, s->table },
		{ s->pba_off, 8, s->pba },
	};
	int hits = 0, inside = -1;

	for (int i = 0; i < 2; i++) {
		if (off + size <= st[i].base || off >= st[i].base + st[i].len)
			continue;
		hits++;
		if (off >= st[i].base && off + size <= st[i].base + st[i].len)
			inside = i;
	}
	if (hits == 0)
		return -ENOENT;
	if (hits > 1 || inside < 0) {
		*val = size == 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
		return 0;
	}
	*val = 0;
	for (uint32_t b = 0; b < size; b++)
		*val |= (uint64_t)st[inside].bytes[off - st[inside].base + b]
			<< (8 * b);
	return 0;
}

/* The table and PBA as defined reads show them equal @s. */
static void ck_matches_shadow(struct tdev *t, const struct shadow *s)
{
	for (uint32_t i = 0; i < 16 * s->n; i += 4) {
		uint64_t want;

		shadow_read(s, s->table_off + i, 4, &want);
		ck_assert_uint_eq(bar_rd32(t, 0, s->table_off + i), want);
	}
	ck_assert_uint_eq(bar_rd64(t, 0, s->pba_off),
			  (uint64_t)s->pba[0] | (uint64_t)s->pba[1] << 8);
}

/*
 * R25: only aligned DWORD/QWORD table and PBA accesses are defined.
 * libmsix's choice for the rest: a read wholly inside one structure returns
 * the bytes it covers, a read that straddles a structure's edge returns all
 * ones, and such writes are ignored (counted, logged rate-limited). Swept
 * over every offset of the table and PBA pages, sizes 1..8, for a layout
 * with the PBA a page away and one with the PBA right after the table.
 */
START_TEST(test_R25_undefined_accesses_safe_and_documented)
{
	const uint32_t n = 5;
	const uint32_t pba_offs[2] = { TEST_PBA_OFFSET(5), 16 * 5 };

	for (int layout = 0; layout < 2; layout++) {
		struct obs o;
		struct libmsix_config cfg = obs_config(n, &o);
		struct shadow s = { .n = n, .pba_off = pba_offs[layout] };
		struct tdev t;
		uint64_t bad, ignored = 0, end = TEST_BAR_SIZE(n) + 16;

		cfg.pba_offset = pba_offs[layout];
		t = tdev_new_cfg(&cfg, 0, 0);
		bring_up(&t);
		for (uint32_t v = 0; v < n; v++) {
			shadow_put32(s.table + 16 * v + 0, (uint32_t)test_addr(v));
			shadow_put32(s.table + 16 * v + 4, 0);
			shadow_put32(s.table + 16 * v + 8, test_data(v));
			shadow_put32(s.table + 16 * v + 12, v % 2);
			if (v % 2 == 0)
				unmask(&t, v);
		}
		ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
		ck_assert_int_eq(libmsix_notify(t.dev, 3), LIBMSIX_LATCHED);
		s.pba[0] = 1 << 1 | 1 << 3;
		ck_matches_shadow(&t, &s);
		libmsix_recorder_clear(t.rec);
		bad = counters(&t).bad_accesses;

		for (uint64_t off = 0; off < end; off++) {
			for (uint32_t size = 1; size <= 8; size++) {
				uint64_t want = 0, got = 0xdeadbeefcafef00dull;
				int rc = shadow_read(&s, off, size, &want);
				bool table = off < 16 * n;
				bool defined = table && off + size <= 16 * n &&
					       (size == 4 || size == 8) &&
					       off % size == 0;
				uint64_t wval;

				ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, off, size,
								   &got), rc);
				ck_assert_msg(got == (rc ? 0xdeadbeefcafef00dull : want),
					      "read off 0x%llx size %u: 0x%llx, want 0x%llx",
					      (unsigned long long)off, size,
					      (unsigned long long)got,
					      (unsigned long long)want);
				/* Defined writes rewrite what is there. */
				wval = defined ? want
					       : (size == 8 ? UINT64_MAX
							    : (1ull << (8 * size)) - 1);
				ck_assert_int_eq(libmsix_mmio_write(t.dev, 0, off,
								    size, wval),
						 rc);
				if (rc == 0 && !defined)
					ignored++;
			}
			if (off % 512 == 511 || (off >= 16 * n - 8 && off < 16 * n + 16))
				ck_matches_shadow(&t, &s);
		}
		ck_matches_shadow(&t, &s);
		ck_assert_uint_eq(counters(&t).bad_accesses, bad + ignored);
		/* Logged, but not once per access (V9): 4 + powers of two. */
		ck_assert_uint_le(o.logs, 2 * (4 + 64 - __builtin_clzll(ignored)));
		ck_assert_uint_gt(o.logs, 0);
		ck_delivered_none(&t);
		tdev_free(&t);
	}
}
END_TEST

START_TEST(test_R26_qword_access_table_and_pba)
{
	struct tdev t = tdev_new(64);
	const uint32_t pba = TEST_PBA_OFFSET(64);
	const struct want w[] = { { 5, 0xaabbccddfee05000ull, 0x11223344 } };

	bring_up(&t);
	ck_assert_int_eq(tbl_write(&t, 16 * 5 + 0, 8, 0xaabbccddfee05000ull), 0);
	ck_assert_int_eq(tbl_write(&t, 16 * 5 + 8, 8, 1ull << 32 | 0x11223344), 0);
	ck_assert_uint_eq(tbl_read(&t, 16 * 5 + 0, 8), 0xaabbccddfee05000ull);
	ck_assert_uint_eq(tbl_read(&t, 16 * 5 + 8, 8), 1ull << 32 | 0x11223344);
	ck_assert_uint_eq(tbl_read(&t, 16 * 5 + 0, 4), 0xfee05000u);
	ck_assert_uint_eq(tbl_read(&t, 16 * 5 + 4, 4), 0xaabbccddu);
	ck_assert_int_eq(libmsix_notify(t.dev, 5), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_notify(t.dev, 40), LIBMSIX_LATCHED);
	ck_assert_uint_eq(bar_rd64(&t, 0, pba), 1ull << 5 | 1ull << 40);
	ck_assert_int_eq(tbl_write(&t, 16 * 5 + 8, 8, 0x11223344), 0);
	ck_delivered(&t, w, 1);
	ck_assert_uint_eq(bar_rd64(&t, 0, pba), 1ull << 40);
	tdev_free(&t);
}
END_TEST

struct tear_ctx {
	struct libmsix_dev *dev;
	atomic_bool stop;
	unsigned long notifies, not_delivered;
};

/* No ck_assert off the main thread: count, the main thread asserts. */
static void *tear_notifier(void *arg)
{
	struct tear_ctx *c = arg;

	while (!atomic_load(&c->stop) && c->notifies < 200000) {
		if (libmsix_notify(c->dev, 0) != LIBMSIX_DELIVERED)
			c->not_delivered++;
		c->notifies++;
	}
	return NULL;
}

/* R27: a QWORD write of Address + Upper Address is one change: neither a
 * route nor an emulated delivery ever sees half of it. */
START_TEST(test_R27_qword_address_write_atomic)
{
	const uint64_t a = 0x00000001fee01000ull, b = 0x00000002fee02000ull;
	const unsigned rounds = getenv("LIBMSIX_UNDER_VALGRIND") ? 2000 : 20000;
	struct tdev t = tdev_new(1);
	struct tear_ctx c = { .dev = t.dev };
	struct libmsix_msg m;
	pthread_t th;
	size_t total;

	bring_up(&t);
	/* Masked: the route set at unmask carries the whole new address. */
	ck_assert_int_eq(tbl_write(&t, 0, 8, b), 0);
	unmask(&t, 0);
	ck_assert_uint_eq(routes_of(&t, 0, &m), 1);
	ck_assert_uint_eq(m.address, b);
	ck_assert_int_eq(tbl_write(&t, 0, 8, a), 0);
	libmsix_recorder_clear(t.rec);

	/* Unmasked, the emulated path uses the table at once (R41 choice):
	 * a notifier racing QWORD rewrites sees a or b, never a mix. */
	ck_assert_int_eq(pthread_create(&th, NULL, tear_notifier, &c), 0);
	for (unsigned i = 0; i < rounds; i++)
		ck_assert_int_eq(tbl_write(&t, 0, 8, i % 2 ? a : b), 0);
	atomic_store(&c.stop, true);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	total = libmsix_recorder_count(t.rec);
	for (size_t i = 0; i < total; i++) {
		const struct libmsix_rec_op *op = libmsix_recorder_op(t.rec, i);

		ck_assert_int_eq(op->kind, LIBMSIX_REC_DELIVER);
		ck_assert_msg(op->msg.address == a || op->msg.address == b,
			      "torn address 0x%llx",
			      (unsigned long long)op->msg.address);
	}
	ck_assert_uint_eq(c.not_delivered, 0);
	ck_assert_uint_eq(total, c.notifies);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R28_qword_data_and_control_write)
{
	struct tdev t = tdev_new(4);
	const struct want w[] = { { 2, test_addr(2), 0xbeef } };

	bring_up(&t);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	ck_assert(pba_bit(&t, 2));
	/* One QWORD: Data = NEW, Vector Control = 0 (unmask). */
	ck_assert_int_eq(tbl_write(&t, 16 * 2 + 8, 8, 0xbeef), 0);
	ck_delivered(&t, w, 1);
	ck_assert(!pba_bit(&t, 2));
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_DELIVERED);
	ck_delivered(&t, w, 1);
	/* Masking takes a DWORD write to Vector Control. */
	ck_assert_int_eq(tbl_write(&t, 16 * 2 + 12, 4, 1), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	ck_delivered_none(&t);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R29_accesses_past_structures_stay_out)
{
	struct tdev t = tdev_new(1);
	const uint32_t pba = TEST_PBA_OFFSET(1);
	static const uint64_t far[] = { UINT64_MAX, UINT64_MAX - 7,
					1ull << 63, 1ull << 32, 4096ull * 3 };
	uint64_t v;

	bring_up(&t);
	for (uint64_t off = 16; off < 4096; off++)
		for (uint32_t size = 1; size <= 8; size++) {
			if (off < pba && off + size > pba)
				continue;
			v = 0x77;
			ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, off, size, &v),
					 -ENOENT);
			ck_assert_uint_eq(v, 0x77);
			ck_assert_int_eq(libmsix_mmio_write(t.dev, 0, off, size,
							    UINT64_MAX), -ENOENT);
		}
	for (uint64_t off = pba + 8; off < pba + 4096; off++) {
		ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, off, 8, &v), -ENOENT);
		ck_assert_int_eq(libmsix_mmio_write(t.dev, 0, off, 8, 0), -ENOENT);
	}
	for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++)
		for (uint32_t size = 1; size <= 8; size++) {
			ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, far[i], size,
							   &v), -ENOENT);
			ck_assert_int_eq(libmsix_mmio_write(t.dev, 0, far[i], size,
							    0), -ENOENT);
		}
	/* Straddling the end of entry 0 or of the PBA: all ones, no effect. */
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, 12, 8, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, pba + 4, 8, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(libmsix_mmio_write(t.dev, 0, 12, 8, 0), 0);
	ck_assert_uint_eq(vctrl(&t, 0), 1);
	/* Bad arguments: -EINVAL, nothing read. */
	v = 0x77;
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 6, 0, 4, &v), -EINVAL);
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, 0, 0, &v), -EINVAL);
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, 0, 9, &v), -EINVAL);
	ck_assert_int_eq(libmsix_mmio_read(t.dev, 0, 0, 4, NULL), -EINVAL);
	ck_assert_int_eq(libmsix_mmio_write(t.dev, UINT32_MAX, 0, 4, 0), -EINVAL);
	ck_assert_uint_eq(v, 0x77);
	ck_assert_uint_eq(tbl_read(&t, 0, 8), test_addr(0));
	ck_assert_uint_eq(tbl_read(&t, 8, 8), 1ull << 32 | test_data(0));
	tdev_free(&t);
}
END_TEST

/* ======================================================================== */
/* E. Reset and initial state                                                */
/* ======================================================================== */

/* Everything R30 says about the reset state, as the guest reads it. */
static void ck_reset_state(struct tdev *t)
{
	const uint32_t pba = TEST_PBA_OFFSET(t->n);

	ck_assert_uint_eq(msgctl(t), t->n - 1);
	for (uint32_t v = 0; v < t->n; v++) {
		ck_assert_uint_eq(tbl_read(t, 16 * v, 8), 0);
		ck_assert_uint_eq(tbl_read(t, 16 * v + 8, 8), 1ull << 32);
		ck_assert_uint_eq(libmsix_recorder_host(t->rec, v), 0);
	}
	for (uint32_t q = 0; q < (t->n + 63) / 64; q++)
		ck_assert_uint_eq(bar_rd64(t, 0, pba + 8 * q), 0);
}

START_TEST(test_R30_reset_state)
{
	struct tdev t = tdev_new(70);

	ck_reset_state(&t);
	/* Dirty everything: unmasked, pending under FM, live at the host. */
	bring_up(&t);
	for (uint32_t v = 0; v < t.n; v++)
		unmask(&t, v);
	ck_assert_int_eq(set_msgctl(&t, EN | FM), 0);
	for (uint32_t v = 0; v < t.n; v++)
		ck_assert_int_eq(libmsix_notify(t.dev, v), LIBMSIX_LATCHED);
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(libmsix_reset(t.dev), 0);
	ck_delivered_none(&t);
	ck_reset_state(&t);
	ck_assert(!libmsix_enabled(t.dev));
	ck_assert(!libmsix_function_masked(t.dev));
	ck_assert_uint_eq(counters(&t).host_vectors, 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DROPPED);
	/* Enabled again: every vector masked, nothing to replay. */
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_LATCHED);
	ck_delivered_none(&t);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R31_reset_and_disable_drop_pending_and_routes)
{
	struct tdev t = tdev_new(4);
	const uint64_t new_addr = 0xfee0a000u;
	const struct want w[] = { { 1, new_addr, 0x77 } };
	struct libmsix_msg m;

	/* Reset: pending and route gone. */
	bring_up(&t);
	unmask(&t, 1);
	mask(&t, 1);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_reset(t.dev), 0);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 1), 0);
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	set_msg(&t, 1, new_addr, 0x77);
	libmsix_recorder_clear(t.rec);
	unmask(&t, 1);
	ck_assert_uint_eq(routes_of(&t, 1, &m), 1); /* the new message */
	ck_assert_uint_eq(m.address, new_addr);
	ck_delivered_none(&t);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 1),
			  LIBMSIX_HOST_ALLOCATED | LIBMSIX_HOST_ROUTED |
				  LIBMSIX_HOST_UNMASKED);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_DELIVERED);
	ck_delivered(&t, w, 1);

	/* Disable: the same. */
	mask(&t, 1);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	ck_assert_int_eq(set_msgctl(&t, 0), 0);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 1), 0);
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	ck_assert(!pba_bit(&t, 1));
	libmsix_recorder_clear(t.rec);
	unmask(&t, 1);
	ck_assert_uint_eq(routes_of(&t, 1, &m), 1); /* a fresh route */
	ck_assert_uint_eq(m.address, new_addr);
	ck_assert_uint_eq(m.data, 0x77);
	ck_delivered_none(&t);
	tdev_free(&t);
}
END_TEST

/* Fire every vector, as a busy device would between two guest accesses. */
static void fire_all(struct tdev *t)
{
	for (uint32_t v = 0; v < t->n; v++)
		ck_assert_int_ge(libmsix_notify(t->dev, v), 0);
}

/* Linux pci_msix_clear_and_set_ctrl(): word read-modify-write. */
static void linux_ctrl(struct tdev *t, uint16_t clear, uint16_t set)
{
	uint16_t ctl = msgctl(t);

	ck_assert_int_eq(set_msgctl(t, (uint16_t)((ctl & ~clear) | set)), 0);
}

/* Linux __pci_write_msi_msg() for an MSI-X entry whose cached Vector
 * Control is @ctrl: mask around the update if unmasked, read to flush. */
static void linux_write_msg(struct tdev *t, uint32_t v, uint32_t ctrl,
			    uint64_t addr, uint32_t data)
{
	uint32_t base = 16 * v;

	if (!(ctrl & 1))
		ck_assert_int_eq(tbl_write(t, base + 12, 4, ctrl | 1), 0);
	fire_all(t);
	ck_assert_int_eq(tbl_write(t, base + 0, 4, (uint32_t)addr), 0);
	fire_all(t);
	ck_assert_int_eq(tbl_write(t, base + 4, 4, (uint32_t)(addr >> 32)), 0);
	fire_all(t);
	ck_assert_int_eq(tbl_write(t, base + 8, 4, data), 0);
	if (!(ctrl & 1))
		ck_assert_int_eq(tbl_write(t, base + 12, 4, ctrl), 0);
	(void)tbl_read(t, base + 8, 4);
}

/*
 * R32: Linux msix_capability_init() and __pci_restore_msix_state(),
 * replayed access by access with the device firing every vector between
 * accesses: nothing may be delivered before Function Mask clears, and
 * afterwards each vector that is unmasked delivers exactly once.
 */
START_TEST(test_R32_linux_bringup_and_restore)
{
	struct tdev t = tdev_new(8);
	uint32_t ctrl[8];
	struct want w[8];
	size_t nw = 0;

	/* msix_capability_init(). */
	fire_all(&t); /* disabled: dropped */
	linux_ctrl(&t, 0, FM | EN);
	fire_all(&t);
	ck_assert_uint_eq(msgctl(&t) & PCI_MSIX_FLAGS_QSIZE, 7);
	for (uint32_t v = 0; v < 8; v++) {
		ctrl[v] = vctrl(&t, v); /* msix_setup_msi_descs() */
		ck_assert_uint_eq(ctrl[v], 1);
		linux_write_msg(&t, v, ctrl[v], test_addr(v), test_data(v));
		fire_all(&t);
	}
	for (uint32_t v = 0; v < 8; v++) { /* msix_mask_all() */
		ck_assert_int_eq(tbl_write(&t, 16 * v + 12, 4, 1), 0);
		fire_all(&t);
	}
	ck_assert_uint_eq(deliveries(&t), 0);
	linux_ctrl(&t, FM, 0);
	ck_delivered_none(&t); /* every entry still masked */
	/* request_irq() on all but 3 and 6. */
	for (uint32_t v = 0; v < 8; v++) {
		if (v == 3 || v == 6)
			continue;
		ctrl[v] = 0;
		ck_assert_int_eq(tbl_write(&t, 16 * v + 12, 4, 0), 0);
		(void)tbl_read(&t, 16 * v + 12, 4);
		w[0] = (struct want)WANT(v);
		ck_delivered(&t, w, 1); /* what it latched, once */
	}

	/* Resume: the function lost its state; __pci_restore_msix_state(). */
	ck_assert_int_eq(libmsix_reset(t.dev), 0);
	libmsix_recorder_clear(t.rec);
	fire_all(&t);
	linux_ctrl(&t, 0, EN | FM);
	fire_all(&t);
	for (uint32_t v = 0; v < 8; v++) {
		linux_write_msg(&t, v, ctrl[v], test_addr(v), test_data(v));
		fire_all(&t);
		ck_assert_int_eq(tbl_write(&t, 16 * v + 12, 4, ctrl[v]), 0);
		fire_all(&t);
	}
	ck_assert_uint_eq(deliveries(&t), 0);
	linux_ctrl(&t, FM, 0);
	for (uint32_t v = 0; v < 8; v++)
		if (ctrl[v] == 0)
			w[nw++] = (struct want)WANT(v);
	ck_delivered(&t, w, nw);
	ck_assert_uint_eq(nw, 6);
	ck_assert_uint_eq(bar_rd64(&t, 0, TEST_PBA_OFFSET(8)), 1u << 3 | 1u << 6);
	for (uint32_t v = 0; v < 8; v++)
		ck_assert_uint_eq(libmsix_recorder_host(t.rec, v) &
					  LIBMSIX_HOST_UNMASKED,
				  ctrl[v] ? 0 : LIBMSIX_HOST_UNMASKED);
	tdev_free(&t);
}
END_TEST

/* ======================================================================== */
/* F. Masking and delivery semantics                                         */
/* ======================================================================== */

/*
 * R33: a message is sent only when Enable = 1, Function Mask = 0, the
 * entry's Mask = 0 and Bus Master Enable = 1. Rows with Enable = 0 drop
 * (R39); the others latch. Then the row's blockers are lifted: a latched
 * interrupt is delivered exactly once.
 */
START_TEST(test_R33_truth_table)
{
	unsigned delivering_rows = 0;

	for (uint32_t row = 0; row < 16; row++) {
		bool en = row & 8, fm = row & 4, vm = row & 2, bme = row & 1;
		bool live = en && !fm && !vm && bme;
		struct tdev t = tdev_new(2);
		const struct want w[] = { WANT(1) };
		int r;

		set_msg(&t, 1, test_addr(1), test_data(1));
		ck_assert_int_eq(set_vmask(&t, 1, vm), 0);
		ck_assert_int_eq(libmsix_set_bus_master(t.dev, bme), 0);
		ck_assert_int_eq(set_msgctl(&t, (uint16_t)((en ? EN : 0) |
							   (fm ? FM : 0))), 0);
		libmsix_recorder_clear(t.rec);
		r = libmsix_notify(t.dev, 1);
		ck_assert_msg(r == (live ? LIBMSIX_DELIVERED
				    : en ? LIBMSIX_LATCHED : LIBMSIX_DROPPED),
			      "row E%d F%d V%d B%d: %d", en, fm, vm, bme, r);
		if (live) {
			ck_delivered(&t, w, 1);
			delivering_rows++;
		} else {
			ck_delivered_none(&t);
		}
		ck_assert(pba_bit(&t, 1) == (en && !live));
		ck_assert(!pba_bit(&t, 0));
		/* Lift every blocker but Enable. */
		ck_assert_int_eq(set_vmask(&t, 1, false), 0);
		ck_assert_int_eq(libmsix_set_bus_master(t.dev, true), 0);
		ck_assert_int_eq(set_msgctl(&t, en ? EN : 0), 0);
		if (en && !live)
			ck_delivered(&t, w, 1);
		else
			ck_delivered_none(&t);
		ck_assert(!pba_bit(&t, 1));
		tdev_free(&t);
	}
	ck_assert_uint_eq(delivering_rows, 1);
}
END_TEST

START_TEST(test_R34_masked_trigger_sets_pending_only)
{
	struct tdev t = tdev_new(4);

	bring_up(&t);
	/* By Vector Control. */
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	ck_assert_uint_eq(bar_rd64(&t, 0, TEST_PBA_OFFSET(4)), 1u << 1);
	/* By Function Mask, the entry unmasked. */
	unmask(&t, 2);
	ck_assert_int_eq(set_msgctl(&t, EN | FM), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	ck_assert_uint_eq(bar_rd64(&t, 0, TEST_PBA_OFFSET(4)), 1u << 1 | 1u << 2);
	ck_delivered_none(&t);
	ck_assert_uint_eq(counters(&t).latched, 2);
	ck_assert_uint_eq(counters(&t).delivered, 0);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R35_unmask_sends_pending)
{
	const uint32_t n = 16;
	struct tdev t = tdev_new(n);
	const struct want w[] = { WANT(0), WANT(5), WANT(15) };
	const struct want w7[] = { WANT(7) };

	bring_up(&t);
	unmask(&t, 0);
	unmask(&t, 5);
	unmask(&t, n - 1);
	ck_assert_int_eq(set_msgctl(&t, EN | FM), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_notify(t.dev, 5), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_notify(t.dev, n - 1), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_notify(t.dev, 7), LIBMSIX_LATCHED);
	ck_delivered_none(&t);
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	ck_delivered(&t, w, 3);
	ck_assert_uint_eq(bar_rd64(&t, 0, TEST_PBA_OFFSET(n)), 1u << 7);
	/* The per-vector unmask sends 7. */
	unmask(&t, 7);
	ck_delivered(&t, w7, 1);
	ck_assert_uint_eq(bar_rd64(&t, 0, TEST_PBA_OFFSET(n)), 0);
	ck_assert_uint_eq(counters(&t).replayed, 4);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R36_triggers_coalesce)
{
	struct tdev t = tdev_new(2);
	const struct want w[] = { WANT(1) };

	bring_up(&t);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	unmask(&t, 1);
	ck_delivered(&t, w, 1);
	mask(&t, 1);
	unmask(&t, 1); /* pending clear: nothing */
	ck_delivered_none(&t);
	/* The same through Function Mask. */
	ck_assert_int_eq(set_msgctl(&t, EN | FM), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	ck_delivered(&t, w, 1);
	ck_assert_int_eq(set_msgctl(&t, EN | FM), 0);
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	ck_delivered_none(&t);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R37_masking_does_not_mask_aliases)
{
	struct tdev t = tdev_new(4);
	const struct want w[] = { { 3, test_addr(1), test_data(1) } };

	bring_up(&t);
	set_msg(&t, 3, test_addr(1), test_data(1)); /* alias of 1 */
	unmask(&t, 3);
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_notify(t.dev, 3), LIBMSIX_DELIVERED);
	ck_delivered(&t, w, 1);
	ck_assert(pba_bit(&t, 1));
	ck_assert(!pba_bit(&t, 3));
	tdev_free(&t);
}
END_TEST

/* R38, libmsix's choice: Bus Master off blocks delivery; interrupts latch
 * in the PBA and are delivered once when it is set again. */
START_TEST(test_R38_bus_master_off_blocks_and_latches)
{
	struct tdev t = tdev_new(4);
	const struct want w[] = { WANT(0), WANT(2) };
	const struct want w0[] = { WANT(0) };

	bring_up(&t);
	unmask(&t, 0);
	unmask(&t, 2);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DELIVERED); /* default on */
	ck_delivered(&t, w0, 1);
	ck_assert_int_eq(libmsix_set_bus_master(t.dev, false), 0);
	ck_assert_uint_eq(libmsix_recorder_host(t.rec, 0) & LIBMSIX_HOST_UNMASKED, 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_LATCHED);
		ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	}
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	ck_delivered_none(&t);
	ck_assert_uint_eq(bar_rd64(&t, 0, TEST_PBA_OFFSET(4)), 0x7);
	ck_assert_int_eq(libmsix_set_bus_master(t.dev, true), 0);
	ck_delivered(&t, w, 2);
	ck_assert_uint_eq(bar_rd64(&t, 0, TEST_PBA_OFFSET(4)), 1u << 1);
	/* BME off while MSI-X is disabled: still dropped (R39). */
	ck_assert_int_eq(set_msgctl(&t, 0), 0);
	ck_assert_int_eq(libmsix_set_bus_master(t.dev, false), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DROPPED);
	ck_assert_int_eq(libmsix_set_bus_master(t.dev, true), 0);
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	ck_delivered_none(&t);
	tdev_free(&t);
}
END_TEST

/* R39, libmsix's choice: interrupts while MSI-X is disabled are dropped,
 * not latched; so are those of unused vectors, and disabling drops what
 * was pending. A device model should signal INTx for them instead. */
START_TEST(test_R39_disabled_triggers_dropped)
{
	struct tdev t = tdev_new(4);
	const struct want w[] = { WANT(0) };

	set_msg(&t, 0, test_addr(0), test_data(0));
	unmask(&t, 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DROPPED);
	ck_assert_uint_eq(counters(&t).dropped, 3);
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	ck_assert(!pba_bit(&t, 0));
	ck_delivered_none(&t);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DELIVERED);
	ck_delivered(&t, w, 1);
	/* Pending at disable is dropped, not replayed at enable. */
	ck_assert_int_eq(libmsix_notify(t.dev, 1), LIBMSIX_LATCHED);
	ck_assert_int_eq(set_msgctl(&t, 0), 0);
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	unmask(&t, 1);
	ck_delivered_none(&t);
	/* An unused vector drops while enabled. */
	ck_assert_int_eq(libmsix_vector_unuse(t.dev, 0), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DROPPED);
	ck_assert_int_eq(libmsix_vector_use(t.dev, 0), 0);
	ck_assert(!pba_bit(&t, 0));
	ck_delivered_none(&t);
	ck_assert_uint_eq(counters(&t).dropped, 4);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R40_vector_index_range_checked)
{
	static const uint32_t bad16[] = { 16, 17, 2047, 2048, 0xffff, UINT32_MAX };
	static const uint32_t bad2048[] = { 2048, 2049, 0xffff, UINT32_MAX };
	struct tdev t = tdev_new(16);
	struct tdev big = tdev_new(2048);
	struct libmsix_vector_info info;
	struct libmsix_stats c;

	bring_up(&t);
	ck_assert_int_eq(libmsix_notify(t.dev, 15), LIBMSIX_LATCHED);
	c = counters(&t);
	for (size_t i = 0; i < sizeof(bad16) / sizeof(bad16[0]); i++) {
		ck_assert_int_eq(libmsix_notify(t.dev, bad16[i]), -EINVAL);
		ck_assert_int_eq(libmsix_clear_pending(t.dev, bad16[i]), -EINVAL);
		ck_assert_int_eq(libmsix_vector_use(t.dev, bad16[i]), -EINVAL);
		ck_assert_int_eq(libmsix_vector_unuse(t.dev, bad16[i]), -EINVAL);
		ck_assert_int_eq(libmsix_get_vector_info(t.dev, bad16[i], &info),
				 -EINVAL);
	}
	ck_assert_uint_eq(counters(&t).notified, c.notified);
	ck_assert_uint_eq(bar_rd64(&t, 0, TEST_PBA_OFFSET(16)), 1u << 15);
	ck_delivered_none(&t);
	for (size_t i = 0; i < sizeof(bad2048) / sizeof(bad2048[0]); i++) {
		ck_assert_int_eq(libmsix_notify(big.dev, bad2048[i]), -EINVAL);
		ck_assert_int_eq(libmsix_clear_pending(big.dev, bad2048[i]),
				 -EINVAL);
	}
	ck_assert_int_eq(libmsix_notify(big.dev, 2047), LIBMSIX_DROPPED);
	ck_assert_uint_eq(counters(&big).notified, 1);
	tdev_free(&big);
	tdev_free(&t);
}
END_TEST

/* ======================================================================== */
/* G. Updating address and data                                              */
/* ======================================================================== */

/*
 * R41. Mandatory: masked update, then unmask, uses the new message, for the
 * route and for delivery. libmsix's choice for an update while unmasked:
 * emulated delivery uses the table at once; the backend route keeps the old
 * message until the next unmask (vector or function), so no half-written
 * message is ever routed.
 */
START_TEST(test_R41_update_while_unmasked_policy)
{
	const uint64_t a2 = 0x00000003fee0b000ull;
	struct tdev t = tdev_new(2);
	const struct want wnew[] = { { 0, a2, 0x99 } };
	const struct want wmid[] = { { 0, a2, 0x55 } };
	const struct want wa[] = { { 0, 0xfee0c000u, 0x55 } };
	struct libmsix_msg m;

	bring_up(&t);
	/* Mandatory: mask, change, unmask. */
	unmask(&t, 0);
	mask(&t, 0);
	libmsix_recorder_clear(t.rec);
	set_msg(&t, 0, 0xfee0c000u, 0x55);
	ck_assert_uint_eq(routes_of(&t, 0, NULL), 0);
	unmask(&t, 0);
	ck_assert_uint_eq(routes_of(&t, 0, &m), 1);
	ck_assert_uint_eq(m.address, 0xfee0c000u);
	ck_assert_uint_eq(m.data, 0x55);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DELIVERED);
	ck_delivered(&t, wa, 1);

	/* While unmasked: DWORD by DWORD, as an old guest would. */
	ck_assert_int_eq(tbl_write(&t, 0, 4, (uint32_t)a2), 0);
	ck_assert_int_eq(tbl_write(&t, 4, 4, (uint32_t)(a2 >> 32)), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DELIVERED);
	ck_assert_int_eq(tbl_write(&t, 8, 4, 0x99), 0);
	ck_assert_uint_eq(routes_of(&t, 0, NULL), 0);
	ck_assert_uint_eq(libmsix_recorder_count_kind(t.rec, LIBMSIX_REC_COMMIT), 0);
	ck_delivered(&t, wmid, 1);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_DELIVERED);
	ck_delivered(&t, wnew, 1);
	/* The next unmask routes the new message, once. */
	mask(&t, 0);
	unmask(&t, 0);
	ck_assert_uint_eq(routes_of(&t, 0, &m), 1);
	ck_assert_uint_eq(m.address, a2);
	ck_assert_uint_eq(m.data, 0x99);
	libmsix_recorder_clear(t.rec);
	/* Function unmask refreshes it too. */
	ck_assert_int_eq(tbl_write(&t, 8, 4, 0x98), 0);
	ck_assert_uint_eq(routes_of(&t, 0, NULL), 0);
	ck_assert_int_eq(set_msgctl(&t, EN | FM), 0);
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	ck_assert_uint_eq(routes_of(&t, 0, &m), 1);
	ck_assert_uint_eq(m.data, 0x98);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R42_update_window_loses_nothing)
{
	struct tdev t = tdev_new(4);
	const struct want w[] = { { 2, test_addr(2), 0xd00d } };

	bring_up(&t);
	unmask(&t, 2);
	mask(&t, 2);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	ck_assert_int_eq(tbl_write(&t, 16 * 2 + 8, 4, 0xd00d), 0);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	ck_delivered_none(&t);
	unmask(&t, 2);
	ck_delivered(&t, w, 1);
	ck_assert(!pba_bit(&t, 2));
	tdev_free(&t);
}
END_TEST

/*
 * Regression: the engine re-staged the route (and committed) on every table
 * write to an unmasked entry, contrary to its documented R41 choice. A
 * guest moving a live vector to a new 64-bit address DWORD by DWORD had the
 * backend route the torn (new low, old high) address in between.
 */
START_TEST(test_regress_unmasked_dword_write_routed_torn_address)
{
	struct tdev t = tdev_new(1);
	struct libmsix_msg m;

	bring_up(&t);
	set_msg(&t, 0, 0x00000001fee01000ull, 1);
	unmask(&t, 0);
	libmsix_recorder_clear(t.rec);
	ck_assert_int_eq(tbl_write(&t, 0, 4, 0xfee02000u), 0);
	ck_assert_int_eq(tbl_write(&t, 4, 4, 0x2), 0);
	ck_assert_uint_eq(libmsix_recorder_count(t.rec), 0);
	mask(&t, 0);
	unmask(&t, 0);
	ck_assert_uint_eq(routes_of(&t, 0, &m), 1);
	ck_assert_uint_eq(m.address, 0x00000002fee02000ull);
	tdev_free(&t);
}
END_TEST

/* ======================================================================== */
/* R35 / R42 under every policy, live-resize and NORESIZE backends           */
/* ======================================================================== */

/*
 * A NORESIZE backend grows its prefix of host vectors by releasing all and
 * allocating more in one commit; the engine then replays every vector that
 * was live across it (a spurious interrupt is allowed, a lost one is not).
 * The expected replays per policy follow from the prefix growth:
 *   lazy:         grows to exactly the vector unmasked;
 *   incremental:  doubles (1, 2, 4, 8, ...);
 *   preallocate:  all used vectors at enable, never grows after;
 *   auto:         preallocate on NORESIZE, incremental on live resize.
 */
struct pcase {
	const char *name;
	uint32_t be_flags;
	enum libmsix_policy policy;
	uint32_t cfg_flags;
	/* R42 scenario: replays at the four unmasks of 0..3, then of 6 and
	 * 7; disruptive re-enables in total. */
	unsigned r42_up, r42_6, r42_7, r42_disruptive;
	/* R35 scenario: replays at the unmask of 0, 1; disruptive in total. */
	unsigned r35_up, r35_disruptive;
};

static const struct pcase pcases[] = {
	{ "live auto", 0, LIBMSIX_POLICY_AUTO, 0,
	  0, 0, 0, 0, 0, 0 },
	{ "live lazy", 0, LIBMSIX_POLICY_LAZY, 0,
	  0, 0, 0, 0, 0, 0 },
	{ "live prealloc", 0, LIBMSIX_POLICY_PREALLOCATE, 0,
	  0, 0, 0, 0, 0, 0 },
	{ "live incremental", 0,
	  LIBMSIX_POLICY_INCREMENTAL, 0, 0, 0, 0, 0, 0, 0 },
	{ "noresize auto", LIBMSIX_BE_NORESIZE, LIBMSIX_POLICY_AUTO, 0, 0, 0, 0, 0, 0, 0 },
	{ "noresize auto all", LIBMSIX_BE_NORESIZE, LIBMSIX_POLICY_AUTO, LIBMSIX_F_PREALLOC_ALL,
	  0, 0, 0, 0, 0, 0 },
	/* 1 -> 2 -> 3 -> 4 -> 7 -> 8: replays 1+2+3, 4, 5. */
	{ "noresize lazy", LIBMSIX_BE_NORESIZE, LIBMSIX_POLICY_LAZY, 0, 6, 4, 5, 5, 1, 2 },
	{ "noresize prealloc", LIBMSIX_BE_NORESIZE, LIBMSIX_POLICY_PREALLOCATE, 0,
	  0, 0, 0, 0, 0, 0 },
	{ "noresize prealloc all", LIBMSIX_BE_NORESIZE, LIBMSIX_POLICY_PREALLOCATE,
	  LIBMSIX_F_PREALLOC_ALL, 0, 0, 0, 0, 0, 0 },
	/* 1 -> 2 -> 4 -> 8: replays 1 + 2, 4, 0. */
	{ "noresize incremental", LIBMSIX_BE_NORESIZE, LIBMSIX_POLICY_INCREMENTAL, 0,
	  3, 4, 0, 3, 1, 2 },
};

#define NR_PCASES ((int)(sizeof(pcases) / sizeof(pcases[0])))

static struct tdev pcase_dev(const struct pcase *pc, uint32_t n)
{
	struct libmsix_config cfg = test_config(n);

	cfg.policy = pc->policy;
	cfg.flags = pc->cfg_flags;
	return tdev_new_cfg(&cfg, pc->be_flags, 0);
}

/*
 * The deliveries since the last check: each vector's count is exactly
 * @want[v], every message is the vector's current @cur one, and nothing
 * is delivered before the commit that made its vector live.
 */
static void ck_step(struct tdev *t, const char *step, const unsigned *want,
		    const struct libmsix_msg *cur)
{
	unsigned got[16] = { 0 };
	size_t total = libmsix_recorder_count(t->rec);
	bool delivered = false;

	for (size_t i = 0; i < total; i++) {
		const struct libmsix_rec_op *op = libmsix_recorder_op(t->rec, i);

		/* Each step ends with its commit: every message after it. */
		if (op->kind != LIBMSIX_REC_DELIVER) {
			ck_assert_msg(!delivered || op->kind == LIBMSIX_REC_POLL,
				      "%s: backend op %d after a delivery", step,
				      op->kind);
			continue;
		}
		delivered = true;
		ck_assert_uint_lt(op->start, t->n);
		ck_assert_msg(op->msg.address == cur[op->start].address &&
				      op->msg.data == cur[op->start].data,
			      "%s: vector %u sent a stale message", step,
			      op->start);
		ck_assert_msg(libmsix_recorder_host(t->rec, op->start) &
				      LIBMSIX_HOST_UNMASKED,
			      "%s: vector %u delivered while not live at host",
			      step, op->start);
		got[op->start]++;
	}
	for (uint32_t v = 0; v < t->n; v++)
		ck_assert_msg(got[v] == want[v],
			      "%s: vector %u delivered %u times, expected %u",
			      step, v, got[v], want[v]);
	libmsix_recorder_clear(t->rec);
}

static void msgs_init(struct libmsix_msg *cur, uint32_t n)
{
	for (uint32_t v = 0; v < n; v++)
		cur[v] = (struct libmsix_msg){ test_addr(v), test_data(v) };
}

START_TEST(test_R42_policies_update_window_loses_nothing)
{
	const struct pcase *pc = &pcases[_i];
	struct tdev t = pcase_dev(pc, 8);
	struct libmsix_msg cur[8];
	unsigned want[8] = { 0 };
	struct libmsix_stats c;

	msgs_init(cur, 8);
	bring_up(&t);
	/* request_irq() on 0..3: replays of those already live. */
	for (uint32_t v = 0; v < 4; v++)
		unmask(&t, v);
	c = counters(&t);
	ck_assert_msg(c.spurious_replays == pc->r42_up, "%s: %llu replays",
		      pc->name, (unsigned long long)c.spurious_replays);
	libmsix_recorder_clear(t.rec);
	for (uint32_t v = 0; v < 4; v++) {
		ck_assert_int_eq(libmsix_notify(t.dev, v), LIBMSIX_DELIVERED);
		want[v] = 1;
	}
	ck_step(&t, pc->name, want, cur);

	/* Vector 2: mask, trigger, new data, trigger, unmask. */
	mask(&t, 2);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	cur[2] = (struct libmsix_msg){ 0xfee0e000u, 0x2222 };
	set_msg(&t, 2, cur[2].address, cur[2].data);
	ck_assert_int_eq(libmsix_notify(t.dev, 2), LIBMSIX_LATCHED);
	unmask(&t, 2);
	memset(want, 0, sizeof(want));
	want[2] = 1;
	ck_step(&t, pc->name, want, cur);

	/* Vector 6, never live: may grow a NORESIZE prefix past 0..3. */
	ck_assert_int_eq(libmsix_notify(t.dev, 6), LIBMSIX_LATCHED);
	cur[6] = (struct libmsix_msg){ 0x7fee06000ull, 0x6666 };
	set_msg(&t, 6, cur[6].address, cur[6].data);
	unmask(&t, 6);
	for (uint32_t v = 0; v < 4; v++)
		want[v] = pc->r42_6 ? 1 : 0;
	want[6] = 1;
	ck_step(&t, pc->name, want, cur);
	ck_assert_uint_eq(counters(&t).spurious_replays, pc->r42_up + pc->r42_6);

	/* Vector 7. */
	ck_assert_int_eq(libmsix_notify(t.dev, 7), LIBMSIX_LATCHED);
	unmask(&t, 7);
	memset(want, 0, sizeof(want));
	for (uint32_t v = 0; v < 7; v++)
		want[v] = pc->r42_7 && (v < 4 || v == 6);
	want[7] = 1;
	ck_step(&t, pc->name, want, cur);

	/* Everything live delivers once, 4 and 5 still latch. */
	for (uint32_t v = 0; v < 8; v++)
		ck_assert_int_eq(libmsix_notify(t.dev, v),
				 v == 4 || v == 5 ? LIBMSIX_LATCHED
						  : LIBMSIX_DELIVERED);
	for (uint32_t v = 0; v < 8; v++)
		want[v] = v != 4 && v != 5;
	ck_step(&t, pc->name, want, cur);
	c = counters(&t);
	ck_assert_uint_eq(c.spurious_replays,
			  pc->r42_up + pc->r42_6 + pc->r42_7);
	ck_assert_msg(c.disruptive_reenables == pc->r42_disruptive,
		      "%s: %llu disruptive re-enables", pc->name,
		      (unsigned long long)c.disruptive_reenables);
	ck_assert_uint_eq(bar_rd64(&t, 0, TEST_PBA_OFFSET(8)), 1u << 4 | 1u << 5);
	tdev_free(&t);
}
END_TEST

START_TEST(test_R35_policies_function_unmask_sends_pending)
{
	const struct pcase *pc = &pcases[_i];
	struct tdev t = pcase_dev(pc, 16);
	struct libmsix_msg cur[16];
	unsigned want[16] = { 0 };

	msgs_init(cur, 16);
	bring_up(&t);
	unmask(&t, 0);
	unmask(&t, 1);
	ck_assert_uint_eq(counters(&t).spurious_replays, pc->r35_up);
	libmsix_recorder_clear(t.rec);
	/* Under Function Mask: unmask 5 and 15, trigger 0, 5, 15, 7. */
	ck_assert_int_eq(set_msgctl(&t, EN | FM), 0);
	unmask(&t, 5);
	unmask(&t, 15);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_notify(t.dev, 5), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_notify(t.dev, 15), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_notify(t.dev, 7), LIBMSIX_LATCHED);
	ck_assert_int_eq(libmsix_notify(t.dev, 0), LIBMSIX_LATCHED);
	ck_step(&t, pc->name, want, cur);
	/* Clear FM: exactly 0, 5 and 15, whatever the prefix does. */
	ck_assert_int_eq(set_msgctl(&t, EN), 0);
	want[0] = want[5] = want[15] = 1;
	ck_step(&t, pc->name, want, cur);
	ck_assert_uint_eq(bar_rd64(&t, 0, TEST_PBA_OFFSET(16)), 1u << 7);
	unmask(&t, 7);
	memset(want, 0, sizeof(want));
	want[7] = 1;
	ck_step(&t, pc->name, want, cur);
	ck_assert_uint_eq(bar_rd64(&t, 0, TEST_PBA_OFFSET(16)), 0);
	ck_assert_uint_eq(counters(&t).spurious_replays, pc->r35_up);
	ck_assert_msg(counters(&t).disruptive_reenables == pc->r35_disruptive,
		      "%s: %llu disruptive re-enables", pc->name,
		      (unsigned long long)counters(&t).disruptive_reenables);
	tdev_free(&t);
}
END_TEST

static Suite *conformance_suite(void)
{
	Suite *s = suite_create("conformance");
	TCase *tc = tcase_create("conformance");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_R1_header_read_only);
	tcase_add_test(tc, test_R2_table_size_is_n_minus_1_read_only);
	tcase_add_test(tc, test_R3_n_outside_1_to_2048_rejected);
	tcase_add_test(tc, test_R4_msgctl_bits_13_11_reserved);
	tcase_add_test(tc, test_R5_function_mask_keeps_vector_masks);
	tcase_add_test(tc, test_R6_enable_default_0_and_gates_delivery);
	tcase_add_test(tc, test_R7_only_bits_15_14_writable);
	tcase_add_test(tc, test_R8_control_write_any_width_and_offset);
	tcase_add_test(tc, test_R9_bir_encodings);
	tcase_add_test(tc, test_R10_offsets_qword_aligned);
	tcase_add_test(tc, test_R11_fit_in_bar_and_no_overlap);
	tcase_add_test(tc, test_R12_other_bytes_of_the_page_left_to_vmm);
	tcase_add_test(tc, test_R13_enable_deasserts_intx);
	tcase_add_test(tc, test_R14_entry_layout);
	tcase_add_test(tc, test_R15_address_bits_1_0_read_zero);
	tcase_add_test(tc, test_R16_upper_address_composes_64_bit);
	tcase_add_test(tc, test_R17_data_sent_unmodified);
	tcase_add_test(tc, test_R18_vector_mask_default_1_rw);
	tcase_add_test(tc, test_R19_vector_control_reserved_bits_read_zero);
	tcase_add_test(tc, test_R20_pba_layout);
	tcase_add_test(tc, test_R21_pba_bits_past_n_read_zero);
	tcase_add_test(tc, test_R22_pba_writes_ignored);
	tcase_add_test(tc, test_R23_pending_default_0);
	tcase_add_test(tc, test_R24_condition_cleared_while_masked);
	tcase_add_test(tc, test_R24_host_caught_interrupt_shows_in_pba);
	tcase_add_test(tc, test_R25_undefined_accesses_safe_and_documented);
	tcase_add_test(tc, test_R26_qword_access_table_and_pba);
	tcase_add_test(tc, test_R27_qword_address_write_atomic);
	tcase_add_test(tc, test_R28_qword_data_and_control_write);
	tcase_add_test(tc, test_R29_accesses_past_structures_stay_out);
	tcase_add_test(tc, test_R30_reset_state);
	tcase_add_test(tc, test_R31_reset_and_disable_drop_pending_and_routes);
	tcase_add_test(tc, test_R32_linux_bringup_and_restore);
	tcase_add_test(tc, test_R33_truth_table);
	tcase_add_test(tc, test_R34_masked_trigger_sets_pending_only);
	tcase_add_test(tc, test_R35_unmask_sends_pending);
	tcase_add_test(tc, test_R36_triggers_coalesce);
	tcase_add_test(tc, test_R37_masking_does_not_mask_aliases);
	tcase_add_test(tc, test_R38_bus_master_off_blocks_and_latches);
	tcase_add_test(tc, test_R39_disabled_triggers_dropped);
	tcase_add_test(tc, test_R40_vector_index_range_checked);
	tcase_add_test(tc, test_R41_update_while_unmasked_policy);
	tcase_add_test(tc, test_R42_update_window_loses_nothing);
	tcase_add_test(tc, test_regress_unmasked_dword_write_routed_torn_address);
	tcase_add_loop_test(tc, test_R42_policies_update_window_loses_nothing, 0,
			    NR_PCASES);
	tcase_add_loop_test(tc, test_R35_policies_function_unmask_sends_pending, 0,
			    NR_PCASES);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(conformance_suite());
}
