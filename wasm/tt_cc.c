/* SPDX-License-Identifier: GPL-3.0-or-later
 * toxtunnel: the sender-side congestion controller (the model is described in tt_cc.h). */
#include "tt_cc.h"

#include <string.h>
#ifdef TT_CC_TRACE
#include <stdio.h>
#endif

static const double probe_gains[8] = {1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0};

static double burst_cap(const Tt_Cc *cc)
{
    const double cap = cc->rate * TT_CC_BURST_MS / 1000.0;
    return cap < TT_CC_BURST_MIN ? TT_CC_BURST_MIN : cap;
}

void tt_cc_init(Tt_Cc *cc, uint64_t now)
{
    memset(cc, 0, sizeof(*cc));
    cc->mode = TT_CC_STARTUP;
    cc->rate = TT_CC_INITIAL_RATE;
    cc->tokens = burst_cap(cc);
    cc->refill_at = now;
    cc->tick_at = now;
    cc->round_at = now;
    for (unsigned i = 0; i <= TT_CC_SAMPLE_TICKS; ++i) {
        cc->time_ring[i] = now;
    }
    cc->min_rtt = UINT32_MAX;
    cc->min_rtt_at = now;
    cc->started = true;
}

void tt_cc_on_acked(Tt_Cc *cc, uint32_t count)
{
    cc->acked += count;
}

void tt_cc_on_rtt(Tt_Cc *cc, uint64_t now, uint32_t rtt)
{
    if (rtt < cc->min_rtt || now - cc->min_rtt_at > TT_CC_MIN_RTT_WINDOW_MS) {
        cc->min_rtt = rtt;
        cc->min_rtt_at = now;
    }
    cc->srtt = cc->srtt == 0 ? rtt : cc->srtt + (rtt - cc->srtt) / 8.0;
}

void tt_cc_on_written(Tt_Cc *cc)
{
    ++cc->written;
}

double tt_cc_cwnd(const Tt_Cc *cc)
{
    const double rtt = (cc->min_rtt == UINT32_MAX ? 0.0 : (double)cc->min_rtt) + TT_CC_ACK_ALLOWANCE_MS;
    const double bw = cc->btl_bw > 0 ? cc->btl_bw : TT_CC_INITIAL_RATE;
    const double cwnd = TT_CC_CWND_GAIN * bw * rtt / 1000.0;
    return cwnd < TT_CC_CWND_MIN ? TT_CC_CWND_MIN : cwnd;
}

uint32_t tt_cc_allowance(const Tt_Cc *cc)
{
    if (cc->tokens < 1.0) {
        return 0;
    }
    const double outstanding = (double)(uint32_t)(cc->written - cc->acked);
    const double room = tt_cc_cwnd(cc) - outstanding;
    if (room < 1.0) {
        return 0;
    }
    return (uint32_t)(room < cc->tokens ? room : cc->tokens);
}

void tt_cc_on_refused(Tt_Cc *cc)
{
    cc->limited = true;
    cc->busy = true;
}

/* The round trip is well above its minimum: a queue is building somewhere on the path. */
static bool queue_building(const Tt_Cc *cc)
{
    if (cc->min_rtt == UINT32_MAX || cc->srtt == 0) {
        return false;
    }
    return cc->srtt > 2.0 * cc->min_rtt + 20.0;
}

static uint32_t round_ms(const Tt_Cc *cc)
{
    return cc->min_rtt != UINT32_MAX && cc->min_rtt > TT_CC_ROUND_MS ? cc->min_rtt : TT_CC_ROUND_MS;
}

static void set_rate(Tt_Cc *cc)
{
    double rate;
    switch (cc->mode) {
    case TT_CC_STARTUP:
        rate = TT_CC_STARTUP_GAIN * cc->btl_bw;
        if (rate < TT_CC_INITIAL_RATE) {
            rate = TT_CC_INITIAL_RATE;
        }
        break;
    case TT_CC_DRAIN:
        rate = TT_CC_DRAIN_GAIN * cc->btl_bw;
        break;
    default: {
        double gain = probe_gains[cc->cycle % 8];
        if (queue_building(cc) && gain > 0.85) {
            gain = 0.85;
        }
        rate = gain * cc->btl_bw;
        break;
    }
    }
    if (rate < TT_CC_MIN_RATE) {
        rate = TT_CC_MIN_RATE;
    }
    if (rate > TT_CC_MAX_RATE) {
        rate = TT_CC_MAX_RATE;
    }
    cc->rate = rate;
}

static void end_round(Tt_Cc *cc, bool busy)
{
    switch (cc->mode) {
    case TT_CC_STARTUP:
        if (cc->btl_bw >= cc->full_bw * 1.25) {
            cc->full_bw = cc->btl_bw;
            cc->full_bw_rounds = 0;
        } else if (busy) {
            ++cc->full_bw_rounds;
        }
        /* Through a TCP relay the first window of a transfer always queues in the sockets
         * on the way (the round trip of its first packets is 10-40 ms against a 1-5 ms
         * minimum): leaving STARTUP on that, before the estimate had grown (one run in
         * three or four: 109 packets/s), left the connection to climb 1.25x per probe cycle,
         * seconds to reach the relay's rate. So there only a queue that persists once the
         * estimate stopped growing ends STARTUP early. */
        if (cc->full_bw_rounds >= 3 || (busy && queue_building(cc) && cc->btl_bw > 0 && (!cc->relay || cc->full_bw_rounds >= 1))) {
#ifdef TT_CC_TRACE
            printf("cc startup end: rounds=%u queue=%d btl=%.0f srtt=%.1f minrtt=%u\n", (unsigned)cc->full_bw_rounds, queue_building(cc), cc->btl_bw, cc->srtt, cc->min_rtt);
#endif
            cc->mode = TT_CC_DRAIN;
        }
        break;
    case TT_CC_DRAIN:
        cc->mode = TT_CC_PROBE;
        cc->cycle = 0;
        break;
    default:
        ++cc->cycle;
        break;
    }
}

static void tick(Tt_Cc *cc, uint64_t now)
{
    const unsigned slots = TT_CC_SAMPLE_TICKS + 1;
    ++cc->tick;
    const unsigned idx = cc->tick % slots;
    cc->acked_ring[idx] = cc->acked;
    cc->time_ring[idx] = now;
    cc->busy_ring[idx] = cc->limited;
    cc->limited = false;

    /* The delivery rate over the last TT_CC_SAMPLE_TICKS ticks. */
    const unsigned old = (cc->tick + 1) % slots;
    const uint64_t span = now - cc->time_ring[old];
    double sample = 0;
    if (span > 0) {
        sample = (double)(uint32_t)(cc->acked - cc->acked_ring[old]) * 1000.0 / (double)span;
    }
    unsigned busy_ticks = 0;
    for (unsigned i = 0; i < slots; ++i) {
        busy_ticks += cc->busy_ring[i] ? 1 : 0;
    }
    /* Application-limited samples only count when they raise the estimate. */
    const bool valid = sample > 0 && (busy_ticks * 2 >= slots || sample > cc->btl_bw);
    cc->bw_ring[cc->tick % TT_CC_HISTORY_TICKS] = valid ? sample : 0;
    double best = 0;
    for (unsigned i = 0; i < TT_CC_HISTORY_TICKS; ++i) {
        if (cc->bw_ring[i] > best) {
            best = cc->bw_ring[i];
        }
    }
    if (best > 0) {
        cc->btl_bw = best;
    }

    if (now - cc->round_at >= round_ms(cc)) {
        cc->round_at = now;
        end_round(cc, cc->busy);
        cc->busy = false;
    }
    set_rate(cc);
#ifdef TT_CC_TRACE
    if (cc->tick % 25 == 0) {
        printf("cc t=%llu mode=%d rate=%.0f btl=%.0f sample=%.0f busy=%u minrtt=%u srtt=%.1f tokens=%.1f out=%u cwnd=%.0f\n",
               (unsigned long long)now, cc->mode, cc->rate, cc->btl_bw, sample, busy_ticks, cc->min_rtt, cc->srtt, cc->tokens,
               (unsigned)(cc->written - cc->acked), tt_cc_cwnd(cc));
    }
#endif
}

void tt_cc_update(Tt_Cc *cc, uint64_t now)
{
    if (!cc->started) {
        tt_cc_init(cc, now);
    }
    if (now - cc->tick_at >= TT_CC_TICK_MS) {
        cc->tick_at = now;
        tick(cc, now);
    }
    if (now > cc->refill_at) {
        cc->tokens += cc->rate * (double)(now - cc->refill_at) / 1000.0;
        cc->refill_at = now;
    }
    const double cap = burst_cap(cc);
    if (cc->tokens > cap) {
        cc->tokens = cap;
    }
}

uint32_t tt_cc_wait_ms(const Tt_Cc *cc)
{
    if (cc->tokens >= 1.0) {
        return 1;
    }
    const double ms = (1.0 - cc->tokens) * 1000.0 / cc->rate;
    return ms < 1.0 ? 1 : (uint32_t)(ms + 0.999);
}
