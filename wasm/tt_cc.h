/* SPDX-License-Identifier: GPL-3.0-or-later
 * toxtunnel: the sender-side congestion controller of our net_crypto build (wasm/patches/).
 *
 * toxcore 0.2.22 starts every connection at CRYPTO_PACKET_MIN_RATE (4 packets/s), re-derives
 * its rate every 50 ms from what it actually sent (x1.2 when the queue is short) and counts
 * every packet the peer asks for again as congestion: it ramps up slowly and random loss pins
 * it near the floor. This controller replaces that rate computation only; the packet format
 * and the request/resend mechanism stay as they are, so native peers interoperate.
 *
 * Model (in the spirit of BBR): pace at the bottleneck rate estimated as the windowed maximum
 * of the measured delivery rate (packets the peer confirmed per second), probe above it now
 * and then, drain after probing. Loss is not a congestion signal: a random loss costs a
 * resend, not rate. Queue growth is: when the smoothed round trip rises well above the
 * minimum, the rate drops to the delivery rate until the queue drains.
 *
 *   STARTUP  pace at STARTUP_GAIN x estimate (at least the initial rate) while the estimate
 *            still grows by 25 % per round; three rounds without growth: DRAIN.
 *   DRAIN    one round at DRAIN_GAIN x estimate (empties the queue STARTUP built), then PROBE.
 *   PROBE    rounds at gains 1.25, 0.75, 1, 1, 1, 1, 1, 1 (cycling).
 *
 * Many connections into one receiver (a server with 15 friends, all starting at the initial
 * rate) overflow its socket buffer and keep a queue standing there; random loss of a few
 * percent must still cost no rate. So (patch 0007's series, issue 10):
 *   - a lossy round (TT_CC_LOSS_BURST_*: at least 8 and 10 % of its packets sent again)
 *     before any delivery halves STARTUP's rate; a lossy round while the round trip is well
 *     above its minimum is congestion: the estimate drops to what the round delivered, its
 *     history is cleared, one DRAIN round follows and the window floor is
 *     TT_CC_CWND_MIN_CONGESTED for a while (loss alone is not: toxcore sends a packet lost
 *     on a 20 ms path two or three times, so 5 % random loss looks like a burst; and the
 *     packets behind a hole wait for its resend, which lifts the round trip by one or two:
 *     hence "well above", queue_standing in tt_cc.c);
 *   - while a queue stands (the round trip well above its minimum) and we keep it filled,
 *     the estimate follows the current delivery rate instead of the window's maximum
 *     (without this, the bench's 15 friends: ~43,000 datagrams dropped per run, with: ~300);
 *   - the minimum round trip is a windowed minimum in two halves (a sample taken behind a
 *     queue never becomes the minimum just because the old one expired).
 *
 * Besides the rate, new packets are held back while more than a congestion window is
 * outstanding (sent, not yet confirmed): CWND_GAIN x estimate x (min RTT + ACK allowance).
 * Without it a sender that is not rate-limited (its estimate above what the application
 * offers) fills the receiver's socket buffer until it overflows.
 *
 * A "round" is max(min RTT, TT_CC_ROUND_MS): acknowledgements come back in the peer's request
 * packets, which toxcore sends at most every 50 ms, so shorter rounds would see no feedback.
 * Samples taken while the sender had nothing to send (application-limited) only ever raise
 * the estimate, so a connection that was idle resumes at its previous rate.
 *
 * Pure logic: no toxcore types, times in milliseconds from the caller, so tests can drive it
 * with a simulated clock and link (test/unit/congestion-control.test.ts).
 */
#ifndef TT_CC_H
#define TT_CC_H

#include <stdbool.h>
#include <stdint.h>

/* Rate of a new connection, packets/s (x ~1.4 kB = 22 MB/s): fast from the first packet. Until
 * round-trip samples exist the congestion window (TT_CC_CWND_MIN packets) bounds what a wrong
 * guess can put in flight, and the tunnel's own window per tunnel does too. 8000 (11 MB/s)
 * held the first 4 MB of a fresh tunnel near that figure: median 8.6 -> 14.3 MB/s in 4
 * interleaved runs each on loopback (a very loaded machine, load average 8-12). */
#define TT_CC_INITIAL_RATE 16000.0
/* Never below this (control frames, keepalives, resends on a bad path). */
#define TT_CC_MIN_RATE 64.0
/* Never above this (about 270 MB/s). */
#define TT_CC_MAX_RATE 200000.0
/* Tokens never accumulate beyond this many milliseconds of sending (limits bursts). */
#define TT_CC_BURST_MS 8.0
/* tt_cc_wait_ms: wake when this many tokens are due (or after TT_CC_WAKE_MAX_MS). A connection
 * that has more to send than it may (refused this round or the one before) also sends new
 * packets this many at a time, waiting for tokens and window room alike (tt_cc_allowance): at
 * a few hundred packets/s (15 friends sharing one server) a frequently iterating sender
 * otherwise sent one or two per iteration, and nearly every datagram woke its receiver for an
 * iteration of its own (simulator, 15 flows: 59 % -> 0 % of groups below 4 packets). Not
 * while packets are being resent (this round or the one before): with 5 % loss, groups
 * halved the bench's figure in most runs (12 -> 6 MB/s). */
#define TT_CC_WAKE_TOKENS 4.0
#define TT_CC_WAKE_MAX_MS 20.0
/* Least number of tokens a burst may hold. */
#define TT_CC_BURST_MIN 16.0
/* Sampling interval and window of the delivery-rate estimate. */
#define TT_CC_TICK_MS 10
#define TT_CC_SAMPLE_TICKS 8 /* a delivery sample spans this many ticks (80 ms) */
#define TT_CC_HISTORY_TICKS 128 /* the max filter keeps samples this long (1.28 s) */
#define TT_CC_ROUND_MS 50
#define TT_CC_STARTUP_GAIN 2.5
#define TT_CC_DRAIN_GAIN 0.6
#define TT_CC_MIN_RTT_WINDOW_MS 10000
/* A round is lossy when at least this many packets and this share of what it sent were sent
 * again (an overflowing queue; random loss of a few percent can be too, see above). */
#define TT_CC_LOSS_BURST_PACKETS 8
#define TT_CC_LOSS_BURST_SHARE 0.1
/* The window is the standing queue a keystroke waits behind (all tunnels of a friend share
 * the stream): 2 x (min RTT + 4 ms) gave echo p50 ~14 ms beside a 100 MB upload on loopback,
 * 1.5 x (min RTT + 2 ms) ~8 ms at the same throughput (issue 10). */
#define TT_CC_CWND_GAIN 1.5
/* Confirmations come in batches (every 32 packets or 4 ms, or with the peer's own data), so
 * the window allows for this much more than the round trip; below TT_CC_CWND_MIN the floor
 * covers the 4 ms timer at low rates. */
#define TT_CC_ACK_ALLOWANCE_MS 2.0
#define TT_CC_CWND_MIN 128.0
/* The floor for TT_CC_CONGESTED_ROUNDS rounds after congestion (a lossy round): each
 * connection may keep its floor in flight, so with many connections into one receiver the
 * floor bounds the receiver's queue (15 x 128 packets overflowed a 4 MiB socket buffer).
 * Confirmations come every 32 packets at most. Not lower in general: while the window is
 * computed from the minimum round trip and the actual one is longer (a loaded host), a
 * floor of 32 held a fresh connection's first 4 MB to ~1-5 MB/s. */
#define TT_CC_CWND_MIN_CONGESTED 32.0
#define TT_CC_CONGESTED_ROUNDS 20

enum { TT_CC_STARTUP = 0, TT_CC_DRAIN = 1, TT_CC_PROBE = 2 };

typedef struct Tt_Cc {
    int mode;
    double rate;     /* pacing rate, packets/s */
    double tokens;   /* packets that may leave now (new data and resends together) */
    uint64_t refill_at;

    uint32_t acked;  /* running count of packets the peer confirmed (wraps) */
    uint32_t written; /* running count of packets put in the send buffer (wraps) */
    bool limited;    /* the sender had more to send than the pacing allowed, this tick */
    bool busy;       /* limited at some point in the current sample span */
    bool was_busy;   /* busy in the round before (tt_cc_allowance's groups) */
    bool was_lossy;  /* the round before sent something again */

    uint64_t tick_at;
    unsigned tick;   /* tick counter (index into the rings) */
    uint32_t acked_ring[TT_CC_SAMPLE_TICKS + 1];
    uint64_t time_ring[TT_CC_SAMPLE_TICKS + 1];
    bool busy_ring[TT_CC_SAMPLE_TICKS + 1];
    double bw_ring[TT_CC_HISTORY_TICKS]; /* valid delivery samples (0 = none) */
    double btl_bw;   /* the estimate: max of bw_ring, kept when the ring has none */

    uint64_t round_at;
    double full_bw;
    unsigned full_bw_rounds;
    unsigned cycle;
    double startup_rate; /* STARTUP's least rate: TT_CC_INITIAL_RATE, halved by lossy rounds */
    uint32_t resent;     /* running count of packets sent again because the peer asked (wraps) */
    uint32_t round_written; /* `written`, `resent` and `acked` when the current round began */
    uint32_t round_resent;
    uint32_t round_acked;
    unsigned congested_rounds; /* rounds left at the congested window floor */

    uint32_t min_rtt;
    uint64_t min_rtt_at;
    uint32_t next_min_rtt; /* the least sample since min_rtt_at + half the window (UINT32_MAX: none) */
    double srtt;
    bool started;
    /* The path is a TCP relay (set by the caller, wasm/patches/0003): STARTUP leaves on a
     * rising round trip only once the estimate has stopped growing for a round (see end_round). */
    bool relay;
} Tt_Cc;

void tt_cc_init(Tt_Cc *cc, uint64_t now);
/* The peer confirmed `count` packets (freed from the send buffer). */
void tt_cc_on_acked(Tt_Cc *cc, uint32_t count);
/* A round-trip sample in ms. */
void tt_cc_on_rtt(Tt_Cc *cc, uint64_t now, uint32_t rtt);
/* `count` packets were sent again because the peer asked for them (they were lost). */
void tt_cc_on_resent(Tt_Cc *cc, uint32_t count);
/* A packet was refused for want of tokens. */
void tt_cc_on_refused(Tt_Cc *cc);
/* Updates the estimate and refills tokens; call on every iteration. */
void tt_cc_update(Tt_Cc *cc, uint64_t now);
/* A packet was put in the send buffer. */
void tt_cc_on_written(Tt_Cc *cc);
/* How many new packets may leave now: tokens, limited by the congestion window. */
uint32_t tt_cc_allowance(const Tt_Cc *cc);
/* The congestion window, packets. */
double tt_cc_cwnd(const Tt_Cc *cc);
/* True while more than a congestion window is outstanding: new packets wait for
 * confirmations, not for tokens. */
bool tt_cc_window_full(const Tt_Cc *cc);
/* Milliseconds until at least one token is due. */
uint32_t tt_cc_wait_ms(const Tt_Cc *cc);
/* The connection moved to another path (from a TCP relay to direct UDP): what was measured on
 * the old one (rate, round trip) says nothing about the new one, so the controller starts over
 * in STARTUP as on a new connection. The running counts of packets written, confirmed and
 * resent go on (net_crypto's window through a relay is computed from them). */
void tt_cc_restart(Tt_Cc *cc, uint64_t now);

#endif
