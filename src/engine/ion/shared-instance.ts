/**
 * Returns a function that runs `use` on one long-lived instance, or on a new
 * one while a caller further up the stack is still using it. The writers and
 * builders of this folder are reused this way, so most calls create none.
 */
export function sharedInstance<T>(create: () => T): <R>(use: (instance: T) => R) => R {
  const shared = create();
  let inUse = false;
  return (use) => {
    if (inUse) return use(create());
    inUse = true;
    try {
      return use(shared);
    } finally {
      inUse = false;
    }
  };
}
