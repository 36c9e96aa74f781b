"""The adversarial loop: prompts, parsing and validation of rows, generator, discriminator, history, optimizer,
the loop itself and sampling from the best θ."""
