import {
  CursorStep,
  DeliveryCursor,
  MailboxRead,
  NumberedFrame,
  REPLAY_RETRY_MS,
} from '../../../runtime/master/delivery-cursor';

/** What happens to the cursor, in order; `replayed` answers the read the previous step asked for. */
type Event =
  | { joined: number; mailbox: number[]; seq?: number }
  | { live: number }
  | { replayed: number[]; seq?: number }
  | 'gone'
  | 'failed'
  | 'resync';

/** One step as text: the seqs written, then the read asked for ('read>N' or 'read>N in Mms'). */
function stepText(step: CursorStep): string {
  const parts = step.send.map((f) => String(f.seq));
  if (step.read) {
    const delay = step.read.delayMs ? ` in ${step.read.delayMs}ms` : '';
    parts.push(`read>${step.read.afterSeq}${delay}`);
  }
  return parts.join(' ') || '-';
}

const frame = (seq: number): NumberedFrame => ({ seq, raw: `{"seq":${seq},"type":"message"}` });
const read = (seqs: number[], seq = Math.max(0, ...seqs)): MailboxRead => ({ frames: seqs.map(frame), seq });

function run(cursor: DeliveryCursor, event: Event): CursorStep {
  if (event === 'gone') return cursor.replayed(undefined);
  if (event === 'failed') return cursor.replayFailed();
  if (event === 'resync') return cursor.resync();
  if ('joined' in event) return cursor.joined(event.joined, read(event.mailbox, event.seq));
  if ('live' in event) return cursor.live(frame(event.live));
  return cursor.replayed(read(event.replayed, event.seq));
}

interface Case {
  readonly name: string;
  readonly events: readonly Event[];
  /** stepText() of each step, in order. */
  readonly steps: readonly string[];
  readonly maxBuffered?: number;
}

const cases: Case[] = [
  {
    name: 'a join with an empty mailbox, then live frames go out at once',
    events: [{ joined: 0, mailbox: [] }, { live: 1 }, { live: 2 }],
    steps: ['-', '1', '2'],
  },
  {
    name: 'a resume replays the mailbox after lastSeq, then live',
    events: [{ joined: 2, mailbox: [3, 4] }, { live: 5 }],
    steps: ['3 4', '5'],
  },
  {
    name: 'live frames during the claim wait and follow the replay, without the ones it already sent',
    events: [{ live: 4 }, { live: 5 }, { joined: 2, mailbox: [3, 4] }],
    steps: ['-', '-', '3 4 5'],
  },
  {
    name: 'buffered live frames come out sorted',
    events: [{ live: 3 }, { live: 2 }, { joined: 0, mailbox: [1] }],
    steps: ['-', '-', '1 2 3'],
  },
  {
    name: 'a client cannot skip what it never got: lastSeq beyond the registry counts from its seq',
    events: [{ joined: 9, mailbox: [], seq: 3 }, { live: 4 }],
    steps: ['-', '4'],
  },
  {
    name: 'trimmed frames are skipped: everything up to the read seq is sent or gone',
    events: [{ joined: 0, mailbox: [4, 5], seq: 5 }, { live: 6 }],
    steps: ['4 5', '6'],
  },
  {
    name: 'a live duplicate or an old seq is dropped',
    events: [{ joined: 0, mailbox: [1, 2] }, { live: 2 }, { live: 1 }, { live: 3 }],
    steps: ['1 2', '-', '-', '3'],
  },
  {
    name: 'a gap in live frames reads the mailbox; frames meanwhile wait and follow it',
    events: [{ joined: 0, mailbox: [] }, { live: 2 }, { live: 3 }, { replayed: [1, 2], seq: 2 }],
    steps: ['-', 'read>0', '-', '1 2 3'],
  },
  {
    name: 'a gap the read does not fill (seq not assigned yet at the read) reads again',
    events: [{ joined: 0, mailbox: [] }, { live: 3 }, { replayed: [1], seq: 1 }, { replayed: [2, 3] }],
    steps: ['-', 'read>0', '1 read>1', '2 3'],
  },
  {
    name: 'a resync reads the mailbox after the last seq sent',
    events: [{ joined: 0, mailbox: [1] }, 'resync', { replayed: [2] }, { live: 3 }],
    steps: ['1', 'read>1', '2', '3'],
  },
  {
    name: 'a resync during a read reads again once it is done',
    events: [{ joined: 0, mailbox: [] }, 'resync', 'resync', { replayed: [] }, { replayed: [1] }],
    steps: ['-', 'read>0', '-', 'read>0', '1'],
  },
  {
    name: 'a resync during the claim reads again once joined (the claim read may predate the gap)',
    events: ['resync', { joined: 0, mailbox: [1] }, { replayed: [2] }],
    steps: ['-', '1 read>1', '2'],
  },
  {
    name: 'a failed read is retried later from the same seq; live frames keep waiting',
    events: [{ joined: 0, mailbox: [1] }, 'resync', 'failed', { live: 3 }, { replayed: [2, 3] }],
    steps: ['1', 'read>1', `read>1 in ${REPLAY_RETRY_MS}ms`, '-', '2 3'],
  },
  {
    name: 'a participant gone at the read drops the buffer and sends nothing',
    events: [{ joined: 0, mailbox: [] }, { live: 2 }, { live: 3 }, 'gone'],
    steps: ['-', 'read>0', '-', '-'],
  },
  {
    name: 'a full buffer drops live frames and reads again after the read under way',
    maxBuffered: 1,
    events: [{ joined: 0, mailbox: [] }, { live: 2 }, { live: 3 }, { replayed: [1, 2] }, { replayed: [3] }],
    steps: ['-', 'read>0', '-', '1 2 read>2', '3'],
  },
  {
    name: 'a full buffer during the claim reads again once joined',
    maxBuffered: 1,
    events: [{ live: 1 }, { live: 2 }, { joined: 0, mailbox: [] }, { replayed: [2] }],
    steps: ['-', '-', '1 read>1', '2'],
  },
];

test.each(cases)('$name', ({ events, steps, maxBuffered }) => {
  const cursor = new DeliveryCursor(maxBuffered);
  expect(events.map((event) => stepText(run(cursor, event)))).toEqual(steps);
});

test('every seq is written once and in order, whatever order live frames and reads interleave in', () => {
  // GIVEN a mailbox of 1..20 and the channel publishing them shuffled, some lost, with resyncs
  const all = Array.from({ length: 20 }, (_, i) => i + 1);
  for (let trial = 0; trial < 200; trial++) {
    let rnd = trial + 1;
    const random = () => (rnd = (rnd * 16807) % 2147483647) / 2147483647;
    const cursor = new DeliveryCursor(4);
    const written: number[] = [];
    let readAfter: number | undefined;
    let published = 0;
    const follow = (step: CursorStep) => {
      written.push(...step.send.map((f) => f.seq));
      if (step.read) readAfter = step.read.afterSeq;
    };
    follow(cursor.joined(0, read([], 0)));

    // WHEN frames are published (in order, some lost), reads answer late, resyncs come
    while (published < all.length || readAfter !== undefined) {
      const r = random();
      if (published < all.length && r < 0.6) {
        published++;
        if (random() > 0.2) follow(cursor.live(frame(published)));
      } else if (readAfter !== undefined && r < 0.9) {
        const after = readAfter;
        readAfter = undefined;
        follow(cursor.replayed(read(all.slice(after, published), published)));
      } else if (r >= 0.9) {
        follow(cursor.resync());
      }
    }
    follow(cursor.resync());
    if (readAfter !== undefined) follow(cursor.replayed(read(all.slice(readAfter), all.length)));

    // THEN
    expect(written).toEqual(all);
    expect(cursor.lastSentSeq).toBe(all.length);
  }
});
