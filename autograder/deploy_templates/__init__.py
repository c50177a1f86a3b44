"""Scripts the deployment recipes ship (Python modules, so every install of the kit has
them); :mod:`autograder.deploy` reads their source text and never imports them."""
