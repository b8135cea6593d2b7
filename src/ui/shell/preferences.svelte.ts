// Display preferences, remembered in localStorage between visits. Storage can be missing or
// throw (disabled cookies, some private modes); the preference then lasts for this visit only.

type KeyValueStore = Pick<Storage, 'getItem' | 'setItem'>;

const LARGE_TEXT_KEY = 'webtune.largeText';

export class Preferences {
  /** Text at 125%: for a classroom projector, or anyone who prefers it. */
  largeText = $state(false);
  readonly #store: KeyValueStore | undefined;

  constructor(store: KeyValueStore | undefined = browserStorage()) {
    this.#store = store;
    this.largeText = this.#read(LARGE_TEXT_KEY) === '1';
  }

  toggleLargeText(): void {
    this.largeText = !this.largeText;
    this.#write(LARGE_TEXT_KEY, this.largeText ? '1' : '0');
  }

  #read(key: string): string | null {
    try {
      return this.#store?.getItem(key) ?? null;
    } catch {
      return null;
    }
  }

  #write(key: string, value: string): void {
    try {
      this.#store?.setItem(key, value);
    } catch {
      // Quota or access refused: the choice still holds until the page closes.
    }
  }
}

function browserStorage(): KeyValueStore | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}
