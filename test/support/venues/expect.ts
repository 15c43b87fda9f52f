// Assertion helper for venue tests: the promise must reject with a VenueError, which is returned
// so the test can check its code.
import { expect } from "vitest";
import { VenueError } from "../../../src/domain/venues/types";

export async function venueError(p: Promise<unknown>): Promise<VenueError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VenueError);
  return err as VenueError;
}
