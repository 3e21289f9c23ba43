// Stand-ins for the browser pieces the viewer's logic touches, for unit tests in plain Node.
import { vi } from 'vitest'

/** An <img> whose decode() resolves or fails by URL; `loaded` lists the URLs in the order they were set. */
export function fakeImages(fail: (url: string) => boolean = () => false) {
  const loaded: string[] = []
  class FakeImage {
    decoding = 'auto'
    private url = ''
    set src(u: string) {
      this.url = u
      loaded.push(u)
    }
    get src() {
      return this.url
    }
    decode(): Promise<void> {
      return fail(this.url) ? Promise.reject(new Error('decode failed')) : Promise.resolve()
    }
  }
  vi.stubGlobal('Image', FakeImage)
  return { loaded }
}

/** A promise settled from outside: a network answer that arrives when the test says so. */
export function deferred<T>() {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Lets pending promise callbacks run. */
export const flush = () => new Promise<void>((r) => setTimeout(r, 0))
