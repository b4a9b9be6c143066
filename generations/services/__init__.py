"""What the surfaces (API, admin, staff page, commands) ask of the domain: validate and
create generations, their limits and render settings, hosted models' plans."""
