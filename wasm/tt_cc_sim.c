/* SPDX-License-Identifier: GPL-3.0-or-later
 * toxtunnel: the congestion controller (tt_cc.c) alone, for tests with a simulated clock and
 * link (test/unit/congestion-control.test.ts). Built by wasm/Makefile into
 * build/wasm/tt_cc_sim.wasm, which is not part of the bundle. Times are doubles (ms) so the
 * test passes plain numbers. */
#include "tt_cc.h"

#define SIMS 16
static Tt_Cc sims[SIMS];

static Tt_Cc *sim(int i) { return &sims[(unsigned)i % SIMS]; }

void sim_init(int i, double now) { tt_cc_init(sim(i), (uint64_t)now); }
void sim_restart(int i, double now) { tt_cc_restart(sim(i), (uint64_t)now); }
void sim_update(int i, double now) { tt_cc_update(sim(i), (uint64_t)now); }
void sim_on_acked(int i, int count) { tt_cc_on_acked(sim(i), (uint32_t)count); }
void sim_on_rtt(int i, double now, int rtt) { tt_cc_on_rtt(sim(i), (uint64_t)now, (uint32_t)rtt); }
void sim_on_resent(int i, int count) { tt_cc_on_resent(sim(i), (uint32_t)count); }
void sim_on_refused(int i) { tt_cc_on_refused(sim(i)); }
void sim_on_written(int i) { tt_cc_on_written(sim(i)); }
int sim_allowance(int i) { return (int)tt_cc_allowance(sim(i)); }
int sim_tokens(int i) { return (int)sim(i)->tokens; }
void sim_take(int i, int count) { sim(i)->tokens -= count; }
double sim_rate(int i) { return sim(i)->rate; }
double sim_btl_bw(int i) { return sim(i)->btl_bw; }
double sim_cwnd(int i) { return tt_cc_cwnd(sim(i)); }
int sim_mode(int i) { return sim(i)->mode; }
double sim_srtt(int i) { return sim(i)->srtt; }
double sim_min_rtt(int i) { return (double)sim(i)->min_rtt; }
