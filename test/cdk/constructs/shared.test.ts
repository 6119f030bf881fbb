import { Duration, Lazy, Token } from 'aws-cdk-lib';
import { Problems, throwIfProblems, ValidationProblems } from '../../../constructs/shared/problems';

describe('Problems', () => {
  it('names each field with the prefix', () => {
    // GIVEN a prefix  WHEN values break their rules
    const problems = new Problems('media.');
    problems.integer('minCapacity', 0, 1, 10);
    problems.matches('instanceType', 'x', /^ok$/, 'ok');
    problems.less('scaleIn', 5, 'scaleOut', 5);
    problems.integers({ a: 1.5, b: 3 }, { a: [1, 2], b: [1, 5] }, 'scaling.');
    // THEN
    expect(problems.messages).toEqual([
      'media.minCapacity must be an integer from 1 to 10 (got 0)',
      'media.instanceType must be ok (got "x")',
      'media.scaleIn must be less than scaleOut (5 >= 5)',
      'media.scaling.a must be an integer from 1 to 2 (got 1.5)',
    ]);
  });

  it('skips values that are unset or unresolved tokens, known only at deploy time', () => {
    const problems = new Problems();
    const number = Token.asNumber(Lazy.number({ produce: () => 0 }));
    const text = Lazy.string({ produce: () => 'x' });
    problems.integer('port', number, 1, 2);
    problems.integer('port', undefined, 1, 2);
    problems.matches('name', text, /^ok$/, 'ok');
    problems.matches('name', undefined, /^ok$/, 'ok');
    problems.less('a', number, 'b', 1);
    problems.less('a', 1, 'b', undefined);
    expect(problems.messages).toEqual([]);
  });

  it('checks durations in whole units, skipping unset and unresolved ones', () => {
    const problems = new Problems('watchdog.');
    problems.duration('cycle', Duration.seconds(30), 'seconds', 1, 30);
    problems.duration('cycle', Duration.millis(1500), 'seconds', 1, 30);
    problems.duration('hold', Duration.hours(2), 'minutes', 1, 60);
    problems.duration('hold', undefined, 'minutes', 1, 60);
    problems.duration(
      'hold',
      Duration.minutes(Token.asNumber(Lazy.number({ produce: () => 0 }))),
      'minutes',
      1,
      60,
    );
    expect(problems.messages).toEqual([
      'watchdog.cycle must be whole seconds from 1 to 30 (got 1 second 500 millis)',
      'watchdog.hold must be whole minutes from 1 to 60 (got 2 hours)',
    ]);
  });

  it("names fields the caller's way, and reports a problem two fields share once", () => {
    const problems = new Problems('watchdog.', {
      'masters.maxFlagsPerCycle': 'maxFlagsPerCycle',
      'media.maxFlagsPerCycle': 'maxFlagsPerCycle',
    });
    problems.integer('masters.maxFlagsPerCycle', 0, 1, 100);
    problems.integer('media.maxFlagsPerCycle', 0, 1, 100);
    problems.integer('cycle', 0, 1, 30);
    expect(problems.messages).toEqual([
      'watchdog.maxFlagsPerCycle must be an integer from 1 to 100 (got 0)',
      'watchdog.cycle must be an integer from 1 to 30 (got 0)',
    ]);
  });

  it('throws one error that lists every problem, and none without problems', () => {
    expect(() => throwIfProblems('Thing props', [])).not.toThrow();
    let error: unknown;
    try {
      throwIfProblems('Thing props', ['a is wrong', 'b is wrong']);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationProblems);
    expect((error as ValidationProblems).problems).toEqual(['a is wrong', 'b is wrong']);
    expect((error as Error).message).toBe('Invalid Thing props:\n  - a is wrong\n  - b is wrong');
  });
});
