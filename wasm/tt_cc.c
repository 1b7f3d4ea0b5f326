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
    cc->next_min_rtt = UINT32_MAX;
    cc->startup_rate = TT_CC_INITIAL_RATE;
    cc->started = true;
}

void tt_cc_on_acked(Tt_Cc *cc, uint32_t count)
{
    cc->acked += count;
}

void tt_cc_on_resent(Tt_Cc *cc, uint32_t count)
{
    cc->resent += count;
}

void tt_cc_on_rtt(Tt_Cc *cc, uint64_t now, uint32_t rtt)
{
    /* A windowed minimum in two halves: when the minimum is a window old, the least sample of
     * the window's second half takes over (not the sample at hand, which may be taken behind
     * a queue: that inflated the window and kept the queue standing). */
    if (rtt <= cc->min_rtt) {
        cc->min_rtt = rtt;
        cc->min_rtt_at = now;
        cc->next_min_rtt = UINT32_MAX;
    } else {
        if (now - cc->min_rtt_at > TT_CC_MIN_RTT_WINDOW_MS / 2 && rtt < cc->next_min_rtt) {
            cc->next_min_rtt = rtt;
        }
        if (now - cc->min_rtt_at > TT_CC_MIN_RTT_WINDOW_MS) {
            cc->min_rtt = cc->next_min_rtt != UINT32_MAX ? cc->next_min_rtt : rtt;
            cc->min_rtt_at = now - TT_CC_MIN_RTT_WINDOW_MS / 2;
            cc->next_min_rtt = UINT32_MAX;
        }
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
    const double floor = cc->congested_rounds > 0 ? TT_CC_CWND_MIN_CONGESTED : TT_CC_CWND_MIN;
    return cwnd < floor ? floor : cwnd;
}

/* Packets a backlogged connection sends at a time (TT_CC_WAKE_TOKENS, tt_cc.h); 1 otherwise. */
static double group_of(const Tt_Cc *cc)
{
    /* Backlogged: refused for want of budget this round or the one before. A sender with
     * nothing waiting (a keystroke on a quiet link) sends a lone packet at once; so does one
     * that is resending (lossy path, tt_cc.h). */
    if ((!cc->busy && !cc->was_busy) || cc->was_lossy || cc->resent != cc->round_resent) {
        return 1.0;
    }
    const double cap = burst_cap(cc);
    return TT_CC_WAKE_TOKENS < cap ? TT_CC_WAKE_TOKENS : cap;
}

uint32_t tt_cc_allowance(const Tt_Cc *cc)
{
    if (cc->tokens < 1.0) {
        return 0;
    }
    const double outstanding = (double)(uint32_t)(cc->written - cc->acked);
    const double room = tt_cc_cwnd(cc) - outstanding;
    const double allowance = room < cc->tokens ? room : cc->tokens;
    /* New packets of a backlogged connection leave in groups (tokens and window room alike:
     * confirmations that free a packet or two at a time would otherwise send them singly). */
    if (allowance < group_of(cc)) {
        return 0;
    }
    return (uint32_t)allowance;
}

/* Whether new packets wait for confirmations (not for tokens): net_crypto then does not wake
 * for tokens (crypto_run_interval), the confirmations' datagrams wake the node. */
bool tt_cc_window_full(const Tt_Cc *cc)
{
    return (double)(uint32_t)(cc->written - cc->acked) + group_of(cc) > tt_cc_cwnd(cc);
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

/* A queue stands: the round trip is several times its minimum. Stricter than queue_building:
 * on a lossy path the packets behind a hole wait for its resend, which lifts the smoothed
 * round trip by a round trip or two (1 % loss on a 20 ms path: ~40-70 ms); a receiver's full
 * socket buffer lifts it by hundreds of ms. */
static bool queue_standing(const Tt_Cc *cc)
{
    if (cc->min_rtt == UINT32_MAX || cc->srtt == 0) {
        return false;
    }
    return cc->srtt > 3.0 * cc->min_rtt + 100.0;
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
        if (rate < cc->startup_rate) {
            rate = cc->startup_rate;
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

/* Whether the round that ends lost a burst of packets (TT_CC_LOSS_BURST_*). */
static bool lossy_round(Tt_Cc *cc)
{
    const uint32_t lost = cc->resent - cc->round_resent;
    cc->was_lossy = lost > 0;
    const uint32_t sent = (uint32_t)(cc->written - cc->round_written) + lost;
    cc->round_resent = cc->resent;
    cc->round_written = cc->written;
    return lost >= TT_CC_LOSS_BURST_PACKETS && (double)lost > TT_CC_LOSS_BURST_SHARE * (double)sent;
}

/* Congestion: the estimate becomes what the round delivered (the larger samples before it
 * are what overflowed the queue), and the history that would bring them back is dropped. */
static void on_congestion(Tt_Cc *cc, double delivered)
{
    cc->congested_rounds = TT_CC_CONGESTED_ROUNDS;
    if (delivered < cc->btl_bw) {
        cc->btl_bw = delivered;
    }
    memset(cc->bw_ring, 0, sizeof(cc->bw_ring));
    cc->bw_ring[cc->tick % TT_CC_HISTORY_TICKS] = cc->btl_bw;
}

static void end_round(Tt_Cc *cc, bool busy, uint64_t span)
{
    const bool lossy = lossy_round(cc);
    if (!lossy && !queue_building(cc) && cc->congested_rounds > 0) {
        --cc->congested_rounds;
    }
    const double delivered = span > 0 ? (double)(uint32_t)(cc->acked - cc->round_acked) * 1000.0 / (double)span : 0;
    cc->round_acked = cc->acked;
    switch (cc->mode) {
    case TT_CC_STARTUP:
        /* STARTUP's first rate is a guess: a burst of loss before any packet was confirmed
         * (many connections starting at once into one receiver) halves it. */
        if (lossy && cc->btl_bw == 0) {
            cc->startup_rate /= 2;
            if (cc->startup_rate < 4 * TT_CC_MIN_RATE) {
                cc->startup_rate = 4 * TT_CC_MIN_RATE;
            }
            break;
        }
        if (lossy && queue_standing(cc)) {
            on_congestion(cc, delivered);
            cc->mode = TT_CC_DRAIN;
            break;
        }
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
        cc->cycle = cc->cycle == 1 ? 2 : 0; /* after a congestion drain, no probe at once */
        break;
    default:
        /* Loss in a burst while the round trip is up is congestion (random loss alone is not,
         * and toxcore sends a packet lost on a 20 ms path two or three times, so a few percent
         * of random loss makes a "burst" of resends): one round at DRAIN_GAIN, then gain 1. */
        if (lossy && queue_standing(cc)) {
            on_congestion(cc, delivered);
            cc->mode = TT_CC_DRAIN;
            cc->cycle = 1;
            break;
        }
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
    if (valid && busy_ticks * 2 >= slots && queue_standing(cc)) {
        /* A queue stands and we keep it filled: what we deliver now is our share of the
         * bottleneck, and the older, larger samples are what filled the queue (a burst served
         * back to back measures the whole link, not our share of it). The estimate follows the
         * current rate, the probe gain is capped below 1 (set_rate), so the queue drains. */
        memset(cc->bw_ring, 0, sizeof(cc->bw_ring));
    }
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
        const uint64_t span = now - cc->round_at;
        cc->round_at = now;
        end_round(cc, cc->busy, span);
        cc->was_busy = cc->busy;
        cc->busy = false;
    }
    set_rate(cc);
#ifdef TT_CC_TRACE
    if (cc->tick % 25 == 0) {
        printf("cc t=%llu mode=%d rate=%.0f btl=%.0f sample=%.0f busy=%u minrtt=%u srtt=%.1f tokens=%.1f out=%u cwnd=%.0f full=%d\n",
               (unsigned long long)now, cc->mode, cc->rate, cc->btl_bw, sample, busy_ticks, cc->min_rtt, cc->srtt, cc->tokens,
               (unsigned)(cc->written - cc->acked), tt_cc_cwnd(cc), tt_cc_window_full(cc));
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
    /* A few packets per wake, not one: each wake costs a whole iteration, and at a few
     * hundred packets/s (15 friends sharing one server) waking for every token made pacing
     * the largest CPU cost of the connection. Never longer than TT_CC_WAKE_MAX_MS unless
     * one token takes longer. */
    const double cap = burst_cap(cc);
    const double want = TT_CC_WAKE_TOKENS < cap ? TT_CC_WAKE_TOKENS : cap;
    if (cc->tokens >= want) {
        return 1;
    }
    double ms = (want - cc->tokens) * 1000.0 / cc->rate;
    const double one = (1.0 - cc->tokens) * 1000.0 / cc->rate;
    if (ms > TT_CC_WAKE_MAX_MS) {
        ms = one > TT_CC_WAKE_MAX_MS ? one : TT_CC_WAKE_MAX_MS;
    }
    return ms < 1.0 ? 1 : (uint32_t)(ms + 0.999);
}

void tt_cc_restart(Tt_Cc *cc, uint64_t now)
{
    const uint32_t acked = cc->acked;
    const uint32_t written = cc->written;
    const uint32_t resent = cc->resent;
    tt_cc_init(cc, now);
    cc->acked = acked;
    cc->written = written;
    cc->resent = resent;
    cc->round_acked = acked;
    cc->round_written = written;
    cc->round_resent = resent;
    for (unsigned i = 0; i <= TT_CC_SAMPLE_TICKS; ++i) {
        cc->acked_ring[i] = acked;
    }
}
