/* cfi.c — how to step from a frame to its caller, read from the call frame
 * information (.eh_frame) the compiler wrote for every function.
 *
 * The stack walk of stack.c needs, for each frame, where its CFA (the caller's
 * stack pointer) is and where the caller's return address and frame pointer
 * were saved: the addresses, not only the values, because the validated stack
 * cache re-checks those words later. libunwind's unw_step finds them but costs
 * ~200 ns a frame on a program with many functions (cc1: its per-thread rule
 * cache holds 128 entries, and a miss takes two sigprocmask calls); its fast
 * unw_backtrace knows them only internally. So the recorder reads the rule for
 * an address itself, once, and keeps it in a table shared by all threads:
 * after that a step costs one table probe and two loads (~10 ns).
 *
 * A rule is found the way every unwinder on GNU/Linux finds it:
 * _dl_find_object (glibc 2.35, lock-free) gives the module's .eh_frame_hdr, a
 * sorted table of function start -> FDE, searched by bisection; the FDE and
 * its CIE hold a small program of DW_CFA_* instructions, run up to the
 * address. Only rules of the forms compilers emit at call sites are taken:
 * CFA = RSP + c or RBP + c, the return address saved at CFA - 8, the caller's
 * RBP unchanged or saved at CFA + c. Anything else (a CFA expression, as in
 * gcc's stack realignment; a signal frame; a register kept in another
 * register; no FDE at all, where libunwind would guess) is "cannot step here":
 * the caller then walks with libunwind, as before this file existed. An
 * undefined return address is the outermost frame (_start, clone3).
 *
 * Costs: ~1-3 us to read a rule the first time (bisection plus the CFA
 * program); the table has 2^17 slots (2 MiB of address space, touched as
 * used), keyed by address and the module epoch (a dlclose may put other code
 * at the same address), and never grows: when a probe sequence is full the
 * rule is computed and not kept. */
#include <dlfcn.h>
#include <string.h>

#include "rec.h"

/* ---- reading .eh_frame data ---- */

enum {
    PE_OMIT = 0xff,
    PE_ABSPTR = 0x00,
    PE_ULEB128 = 0x01,
    PE_UDATA2 = 0x02,
    PE_UDATA4 = 0x03,
    PE_UDATA8 = 0x04,
    PE_SLEB128 = 0x09,
    PE_SDATA2 = 0x0a,
    PE_SDATA4 = 0x0b,
    PE_SDATA8 = 0x0c,
    PE_PCREL = 0x10,
    PE_DATAREL = 0x30,
    PE_INDIRECT = 0x80,
};

/* A cursor over bytes that belong to one CIE or FDE: reads past end fail. */
struct rd {
    const uint8_t *p;
    const uint8_t *end;
    int bad;
};

static uint64_t rd_uleb(struct rd *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; r->p < r->end && shift < 64; shift += 7) {
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

static int64_t rd_sleb(struct rd *r)
{
    uint64_t v = 0;
    unsigned shift = 0;
    while (r->p < r->end && shift < 64) {
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (shift < 64 && (b & 0x40))
                v |= ~(uint64_t)0 << shift;
            return (int64_t)v;
        }
    }
    r->bad = 1;
    return 0;
}

static uint64_t rd_fixed(struct rd *r, unsigned n)
{
    if ((size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, r->p, n); /* x86-64: little-endian, as the data */
    r->p += n;
    return v;
}

/* A pointer in encoding enc; data is the base of PE_DATAREL. Encodings the
 * recorder does not expect in .eh_frame (textrel, funcrel, aligned) fail. */
static uintptr_t rd_ptr(struct rd *r, uint8_t enc, uintptr_t data)
{
    uintptr_t at = (uintptr_t)r->p;
    uint64_t v;
    switch (enc & 0x0f) {
    case PE_ABSPTR:
    case PE_UDATA8:
    case PE_SDATA8: v = rd_fixed(r, 8); break;
    case PE_ULEB128: v = rd_uleb(r); break;
    case PE_SLEB128: v = (uint64_t)rd_sleb(r); break;
    case PE_UDATA2: v = rd_fixed(r, 2); break;
    case PE_SDATA2: v = (uint64_t)(int64_t)(int16_t)rd_fixed(r, 2); break;
    case PE_UDATA4: v = rd_fixed(r, 4); break;
    case PE_SDATA4: v = (uint64_t)(int64_t)(int32_t)rd_fixed(r, 4); break;
    default: r->bad = 1; return 0;
    }
    switch (enc & 0x70) {
    case 0: break;
    case PE_PCREL: v += at; break;
    case PE_DATAREL: v += data; break;
    default: r->bad = 1; return 0;
    }
    if ((enc & PE_INDIRECT) && !r->bad)
        v = *(const uintptr_t *)(uintptr_t)v;
    return (uintptr_t)v;
}

/* ---- the FDE of an address ---- */

/* The FDE whose function holds pc, by bisection of the module's
 * .eh_frame_hdr table; NULL if there is none (or the table is not in the
 * encoding every toolchain writes: 4-byte offsets from the header). */
static const uint8_t *fde_find(uintptr_t pc)
{
    struct dl_find_object fo;
    if (_dl_find_object((void *)pc, &fo) != 0 || !fo.dlfo_eh_frame)
        return NULL;
    const uint8_t *hdr = fo.dlfo_eh_frame;
    if (hdr[0] != 1 || hdr[3] != (PE_DATAREL | PE_SDATA4))
        return NULL;
    struct rd r = {hdr + 4, hdr + 4 + 16, 0};
    (void)rd_ptr(&r, hdr[1], (uintptr_t)hdr); /* eh_frame_ptr */
    uint64_t count = hdr[2] == PE_OMIT ? 0 : rd_ptr(&r, hdr[2], (uintptr_t)hdr);
    if (r.bad || count == 0)
        return NULL;
    const int32_t *table = (const int32_t *)(const void *)r.p; /* pairs: start, FDE */
    intptr_t rel = (intptr_t)(pc - (uintptr_t)hdr);
    if (rel < table[0])
        return NULL;
    uint64_t lo = 0, hi = count; /* table[2 * lo] <= rel < table[2 * hi] */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (table[2 * mid] <= rel)
            lo = mid;
        else
            hi = mid;
    }
    return hdr + table[2 * lo + 1];
}

/* ---- running the CFA program ---- */

#define DW_REG_RBP 6
#define DW_REG_RSP 7
#define DW_REG_RA 16

enum reg_how { HOW_SAME, HOW_OFFSET, HOW_UNDEF, HOW_OTHER };

struct row {
    uint8_t cfa_reg;
    uint8_t cfa_other; /* an expression, or not yet defined */
    uint8_t rbp_how, ra_how;
    int64_t cfa_off;
    int64_t rbp_off, ra_off;
};

struct cie {
    uint64_t code_align;
    int64_t data_align;
    uint64_t ra_reg;
    uint8_t fde_enc;
    uint8_t has_z;
    uint8_t signal;
    struct rd init; /* the initial instructions */
};

/* One CIE or FDE: its length, and the cursor that ends with it. */
static int entry_open(const uint8_t *at, struct rd *r)
{
    uint32_t len32;
    memcpy(&len32, at, 4);
    if (len32 == 0 || len32 == 0xffffffffu) /* terminator; 64-bit DWARF (never in .eh_frame) */
        return -1;
    r->p = at + 4;
    r->end = at + 4 + len32;
    r->bad = 0;
    return 0;
}

static int cie_read(const uint8_t *at, struct cie *c)
{
    struct rd r;
    if (entry_open(at, &r) < 0 || rd_fixed(&r, 4) != 0)
        return -1;
    unsigned version = (unsigned)rd_fixed(&r, 1);
    if (version != 1 && version != 3)
        return -1;
    const char *aug = (const char *)r.p;
    size_t aug_len = strnlen(aug, (size_t)(r.end - r.p));
    r.p += aug_len + 1;
    c->code_align = rd_uleb(&r);
    c->data_align = rd_sleb(&r);
    c->ra_reg = version == 1 ? rd_fixed(&r, 1) : rd_uleb(&r);
    c->fde_enc = PE_ABSPTR;
    c->has_z = aug[0] == 'z';
    c->signal = 0;
    if (aug[0] != '\0' && !c->has_z)
        return -1; /* "eh" and other pre-'z' augmentations */
    if (c->has_z) {
        uint64_t len = rd_uleb(&r);
        const uint8_t *data_end = r.p + len;
        if (r.bad || len > (uint64_t)(r.end - r.p))
            return -1;
        for (size_t i = 1; i < aug_len && !r.bad; i++) {
            switch (aug[i]) {
            case 'L': (void)rd_fixed(&r, 1); break;
            case 'R': c->fde_enc = (uint8_t)rd_fixed(&r, 1); break;
            case 'P': {
                uint8_t enc = (uint8_t)rd_fixed(&r, 1);
                (void)rd_ptr(&r, enc & (uint8_t)~PE_INDIRECT, 0);
                break;
            }
            case 'S': c->signal = 1; break;
            default: i = aug_len; break; /* the rest is skipped by its length */
            }
        }
        r.p = data_end;
    }
    if (r.bad || c->ra_reg != DW_REG_RA)
        return -1;
    c->init = r;
    return 0;
}

/* Run instructions r, starting at code address *loc, up to pc; init is the
 * CIE's initial row (DW_CFA_restore). Returns 1 when pc was passed, 0 at the
 * end of the instructions, -1 on anything not understood. */
static int cfa_run(struct rd *r, const struct cie *c, uintptr_t *loc, uintptr_t pc,
                   struct row *row, const struct row *init)
{
    struct row saved[8];
    int depth = 0;
    while (r->p < r->end) {
        uint8_t op = *r->p++;
        uint64_t reg = 0;
        int64_t off = 0;
        uint64_t delta = 0;
        switch (op >> 6) {
        case 1: delta = op & 0x3f; goto advance;
        case 2:
            reg = op & 0x3f;
            off = (int64_t)rd_uleb(r) * c->data_align;
            goto offset;
        case 3: reg = op & 0x3f; goto restore;
        default: break;
        }
        switch (op) {
        case 0x00: break; /* nop */
        case 0x01:        /* set_loc */
            *loc = rd_ptr(r, c->fde_enc, 0);
            if (*loc > pc)
                return 1;
            break;
        case 0x02: delta = rd_fixed(r, 1); goto advance;
        case 0x03: delta = rd_fixed(r, 2); goto advance;
        case 0x04: delta = rd_fixed(r, 4); goto advance;
        case 0x05: /* offset_extended */
            reg = rd_uleb(r);
            off = (int64_t)rd_uleb(r) * c->data_align;
            goto offset;
        case 0x06: reg = rd_uleb(r); goto restore; /* restore_extended */
        case 0x07:                                 /* undefined */
        case 0x08:                                 /* same_value */
            reg = rd_uleb(r);
            if (reg == DW_REG_RBP)
                row->rbp_how = op == 0x08 ? HOW_SAME : HOW_OTHER;
            else if (reg == DW_REG_RA)
                row->ra_how = op == 0x07 ? HOW_UNDEF : HOW_OTHER;
            break;
        case 0x09: /* register */
            reg = rd_uleb(r);
            (void)rd_uleb(r);
            goto other;
        case 0x0a: /* remember_state */
            if (depth == 8)
                return -1;
            saved[depth++] = *row;
            break;
        case 0x0b: /* restore_state: the CFA rule too, as gcc's epilogues expect */
            if (depth == 0)
                return -1;
            *row = saved[--depth];
            break;
        case 0x0c: /* def_cfa */
            row->cfa_reg = (uint8_t)rd_uleb(r);
            row->cfa_off = (int64_t)rd_uleb(r);
            row->cfa_other = 0;
            break;
        case 0x12: /* def_cfa_sf */
            row->cfa_reg = (uint8_t)rd_uleb(r);
            row->cfa_off = rd_sleb(r) * c->data_align;
            row->cfa_other = 0;
            break;
        case 0x0d: row->cfa_reg = (uint8_t)rd_uleb(r); break;    /* def_cfa_register */
        case 0x0e: row->cfa_off = (int64_t)rd_uleb(r); break;    /* def_cfa_offset */
        case 0x13: row->cfa_off = rd_sleb(r) * c->data_align; break; /* def_cfa_offset_sf */
        case 0x0f: {                                              /* def_cfa_expression */
            uint64_t len = rd_uleb(r);
            if (len > (uint64_t)(r->end - r->p))
                return -1;
            r->p += len;
            row->cfa_other = 1;
            break;
        }
        case 0x10:   /* expression */
        case 0x16: { /* val_expression */
            reg = rd_uleb(r);
            uint64_t len = rd_uleb(r);
            if (len > (uint64_t)(r->end - r->p))
                return -1;
            r->p += len;
            goto other;
        }
        case 0x11: /* offset_extended_sf */
            reg = rd_uleb(r);
            off = rd_sleb(r) * c->data_align;
            goto offset;
        case 0x14: /* val_offset */
            reg = rd_uleb(r);
            (void)rd_uleb(r);
            goto other;
        case 0x15: /* val_offset_sf */
            reg = rd_uleb(r);
            (void)rd_sleb(r);
            goto other;
        case 0x2e: (void)rd_uleb(r); break; /* GNU_args_size */
        case 0x2f:                           /* GNU_negative_offset_extended */
            reg = rd_uleb(r);
            off = -(int64_t)rd_uleb(r) * c->data_align;
            goto offset;
        default: return -1;
        }
        goto next;
    advance:
        *loc += delta * c->code_align;
        if (*loc > pc)
            return 1;
        goto next;
    offset:
        if (reg == DW_REG_RBP) {
            row->rbp_how = HOW_OFFSET;
            row->rbp_off = off;
        } else if (reg == DW_REG_RA) {
            row->ra_how = HOW_OFFSET;
            row->ra_off = off;
        }
        goto next;
    restore:
        if (reg == DW_REG_RBP) {
            row->rbp_how = init->rbp_how;
            row->rbp_off = init->rbp_off;
        } else if (reg == DW_REG_RA) {
            row->ra_how = init->ra_how;
            row->ra_off = init->ra_off;
        }
        goto next;
    other:
        if (reg == DW_REG_RBP)
            row->rbp_how = HOW_OTHER;
        else if (reg == DW_REG_RA)
            row->ra_how = HOW_OTHER;
    next:
        if (r->bad)
            return -1;
    }
    return 0;
}

/* The rule at pc, packed (see rec.h); REC_CFI_NONE when the recorder cannot
 * step there by itself. */
static uint64_t rule_compute(uintptr_t pc)
{
    const uint8_t *fde = fde_find(pc);
    struct rd r;
    if (!fde || entry_open(fde, &r) < 0)
        return REC_CFI_NONE;
    uint32_t cie_off = (uint32_t)rd_fixed(&r, 4);
    struct cie c;
    if (cie_off == 0 || cie_read(r.p - 4 - cie_off, &c) < 0 || c.signal)
        return REC_CFI_NONE;
    uintptr_t start = rd_ptr(&r, c.fde_enc, 0);
    uintptr_t range = rd_ptr(&r, c.fde_enc & 0x0f, 0);
    if (r.bad || pc < start || pc - start >= range)
        return REC_CFI_NONE; /* not covered: libunwind would guess */
    if (c.has_z) {
        uint64_t len = rd_uleb(&r);
        if (r.bad || len > (uint64_t)(r.end - r.p))
            return REC_CFI_NONE;
        r.p += len;
    }
    struct row row = {.cfa_other = 1, .rbp_how = HOW_SAME, .ra_how = HOW_UNDEF};
    uintptr_t loc = start;
    struct rd init = c.init;
    if (cfa_run(&init, &c, &loc, ~(uintptr_t)0, &row, &row) != 0)
        return REC_CFI_NONE; /* the CIE's program has no advances */
    struct row first = row;
    if (cfa_run(&r, &c, &loc, pc, &row, &first) < 0)
        return REC_CFI_NONE;
    if (row.ra_how == HOW_UNDEF)
        return REC_CFI_END;
    if (row.cfa_other || (row.cfa_reg != DW_REG_RSP && row.cfa_reg != DW_REG_RBP) ||
        row.ra_how != HOW_OFFSET || row.ra_off != -8 || row.cfa_off <= 0 ||
        row.cfa_off > INT32_MAX || (row.rbp_how != HOW_SAME && row.rbp_how != HOW_OFFSET) ||
        (row.rbp_how == HOW_OFFSET && (row.rbp_off < INT16_MIN || row.rbp_off > INT16_MAX)))
        return REC_CFI_NONE;
    uint64_t v = REC_CFI_STEP | ((uint64_t)(uint32_t)row.cfa_off << 32);
    if (row.cfa_reg == DW_REG_RBP)
        v |= REC_CFI_CFA_RBP;
    if (row.rbp_how == HOW_OFFSET)
        v |= REC_CFI_RBP_SAVED | ((uint64_t)(uint16_t)(int16_t)row.rbp_off << 16);
    return v;
}

/* ---- the table ---- */

#define RULE_SLOTS (1u << 17)
#define RULE_PROBES 16

struct rule_slot {
    _Atomic uint64_t key; /* rec_cfi_key (walks never ask for address 0); 0: free */
    _Atomic uint64_t rule; /* 0 until written */
};

static _Atomic(struct rule_slot *) rules;
static _Atomic int rules_state; /* 0: not made, 1: being made, 2: ready, 3: failed */

/* A key's first probe. */
static size_t rule_home(uint64_t key)
{
    return (size_t)((key * 0x9e3779b97f4a7c15u) >> 47) & (RULE_SLOTS - 1);
}

static struct rule_slot *rules_get(void)
{
    int s = atomic_load_explicit(&rules_state, memory_order_acquire);
    if (REC_LIKELY(s == 2))
        return atomic_load_explicit(&rules, memory_order_acquire);
    if (s == 0) {
        int expect = 0;
        if (atomic_compare_exchange_strong(&rules_state, &expect, 1)) {
            struct rule_slot *t = rec_mmap(RULE_SLOTS * sizeof(*t));
            atomic_store_explicit(&rules, t, memory_order_release); /* pairs with rec_cfi_rule */
            atomic_store_explicit(&rules_state, t ? 2 : 3, memory_order_release);
            return t;
        }
    }
    return NULL; /* another thread is making it: compute without the table */
}

__attribute__((noinline)) static uint64_t cfi_rule_slow(uintptr_t pc, uint32_t epoch)
{
    struct rule_slot *t = rules_get();
    uint64_t rule = rule_compute(pc);
    if (!t)
        return rule;
    uint64_t key = rec_cfi_key(pc, epoch);
    for (size_t n = 0, i = rule_home(key); n < RULE_PROBES; n++, i = (i + 1) & (RULE_SLOTS - 1)) {
        uint64_t have = atomic_load_explicit(&t[i].key, memory_order_relaxed);
        if (have == 0 &&
            atomic_compare_exchange_strong_explicit(&t[i].key, &have, key, memory_order_relaxed,
                                                    memory_order_relaxed)) {
            atomic_store_explicit(&t[i].rule, rule, memory_order_release); /* pairs with lookup */
            break;
        }
        if (have == key)
            break; /* another thread's, being written */
    }
    return rule;
}

uint64_t rec_cfi_rule(uintptr_t pc, uint32_t epoch)
{
    struct rule_slot *t = atomic_load_explicit(&rules, memory_order_acquire);
    if (REC_LIKELY(t != NULL)) {
        uint64_t key = rec_cfi_key(pc, epoch);
        for (size_t n = 0, i = rule_home(key); n < RULE_PROBES; n++, i = (i + 1) & (RULE_SLOTS - 1)) {
            uint64_t have = atomic_load_explicit(&t[i].key, memory_order_acquire);
            if (have == key) {
                uint64_t rule = atomic_load_explicit(&t[i].rule, memory_order_acquire);
                if (rule != 0)
                    return rule;
                break;
            }
            if (have == 0)
                break;
        }
    }
    return cfi_rule_slow(pc, epoch);
}
