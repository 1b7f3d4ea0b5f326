// SPDX-License-Identifier: GPL-3.0-or-later
// The server's dial queue (src/app/dial-queue.ts): connects in progress bounded per friend and
// in all, the rest started in arrival order as slots free up, a friend at its limit passed by
// others, and a refusal only once the waiting room is full.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DialQueue, type DialTicket } from '../../src/app/dial-queue.ts';

/** Submits `name` for `key`; records the order in which dials start. */
function harness(perKey: number, total: number, maxWaiting: number) {
  const queue = new DialQueue<string>(perKey, total, maxWaiting);
  const started: string[] = [];
  const tickets = new Map<string, DialTicket>();
  const submit = (key: string, name: string) => {
    const ticket = queue.submit(key, () => started.push(name));
    if (ticket) tickets.set(name, ticket);
    return ticket;
  };
  return { queue, started, submit, release: (name: string) => tickets.get(name)!.release() };
}

test('a burst beyond the per-friend limit waits and starts in arrival order as dials end', () => {
  const h = harness(2, 10, 100);
  for (const name of ['a1', 'a2', 'a3', 'a4', 'a5']) assert.ok(h.submit('A', name));
  assert.equal(h.started, ['a1', 'a2']);
  assert.is(h.queue.running, 2);
  assert.is(h.queue.waiting, 3);
  h.release('a2');
  assert.equal(h.started, ['a1', 'a2', 'a3']);
  h.release('a1');
  h.release('a3');
  assert.equal(h.started, ['a1', 'a2', 'a3', 'a4', 'a5']);
  h.release('a4');
  h.release('a5');
  assert.is(h.queue.running, 0);
  assert.is(h.queue.waiting, 0);
});

test('a friend at its limit is passed by another friend waiting behind it', () => {
  const h = harness(2, 3, 100);
  h.submit('A', 'a1');
  h.submit('A', 'a2');
  h.submit('A', 'a3'); // waits: A is at 2
  h.submit('B', 'b1'); // starts: the third slot of the server
  h.submit('B', 'b2'); // waits: the server is at 3
  assert.equal(h.started, ['a1', 'a2', 'b1']);
  h.release('b1'); // a3 is first in line but A is still at 2: b2 goes
  assert.equal(h.started, ['a1', 'a2', 'b1', 'b2']);
  h.release('a1');
  assert.equal(h.started, ['a1', 'a2', 'b1', 'b2', 'a3']);
});

test('the total limit holds across friends', () => {
  const h = harness(5, 4, 100);
  for (const key of ['A', 'B', 'C', 'D', 'E', 'F']) h.submit(key, key);
  assert.equal(h.started, ['A', 'B', 'C', 'D']);
  h.release('C');
  assert.equal(h.started, ['A', 'B', 'C', 'D', 'E']);
});

test('a waiting dial abandoned (CLOSE, friend offline) leaves the line and never starts; release is idempotent', () => {
  const h = harness(1, 1, 100);
  h.submit('A', 'a1');
  h.submit('A', 'a2');
  h.submit('A', 'a3');
  h.release('a2');
  h.release('a2');
  assert.is(h.queue.waiting, 1);
  h.release('a1');
  h.release('a1'); // a second release of a finished dial frees nothing more
  assert.equal(h.started, ['a1', 'a3']);
  assert.is(h.queue.running, 1);
});

test('refused only when the waiting room is full', () => {
  const h = harness(1, 1, 2);
  assert.ok(h.submit('A', 'a1'));
  assert.ok(h.submit('A', 'a2'));
  assert.ok(h.submit('B', 'b1'));
  assert.is(h.submit('B', 'b2'), undefined);
  h.release('a1');
  assert.ok(h.submit('B', 'b3'), 'room again once a waiting dial started');
});

test.run();
