"""The agents' desk: sign-in, the JSON API and the live socket under /desk."""
