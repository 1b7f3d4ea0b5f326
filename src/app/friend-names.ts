/**
 * What a friend is called, answered in one place for logs, `status`, `list`, SIGUSR2 and
 * metrics: the whitelist's `name:`, else the rules in force (a rule's `name:`), else a name
 * earlier rules gave it — so a friend that a reload revokes is still named as it is removed.
 */
export interface NameSource {
  nameOf(publicKey: string): string | undefined;
}

export class FriendNameBook {
  private rules: NameSource | undefined;
  private readonly remembered = new Map<string, string>();

  constructor(
    private readonly fixed: ReadonlyMap<string, string> = new Map(),
    rules?: NameSource,
  ) {
    this.rules = rules;
  }

  /** The name of a friend (64 hex, any case), or undefined. */
  readonly nameOf = (publicKey: string): string | undefined => {
    const key = publicKey.toUpperCase();
    return this.fixed.get(key) ?? this.rules?.nameOf(key) ?? this.remembered.get(key);
  };

  /** New rules: the names the old rules gave to `friends` (public keys) are kept. */
  replaceRules(rules: NameSource | undefined, friends: Iterable<string>): void {
    for (const friend of friends) {
      const key = friend.toUpperCase();
      const name = this.rules?.nameOf(key);
      if (name) this.remembered.set(key, name);
    }
    this.rules = rules;
  }
}
