"""Reference implementations written only against the array API standard.

They define xcrop's semantics: every fast path is tested against them. No code in this
package may branch on the backend.
"""
