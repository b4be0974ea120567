//! Helpers shared by the trainer's integration tests.

use sparling_train::config::TrainConfig;

/// Shrinks `c` to a tiny run: a 56x56 DigitCircle with 1 to `digits_max` digits, a model of a
/// few thousand parameters, batches of 4, validation every 32 samples on 16, 160 samples in
/// all (milliseconds per step).
pub fn shrink(c: &mut TrainConfig, digits_max: usize) {
    let d = c.digit_circle_mut().expect("a DigitCircle config");
    d.size = 56;
    d.radius_min = 8;
    d.radius_max = 10;
    d.padding = 15;
    d.digits_min = 1;
    d.digits_max = digits_max;
    c.model.g_width = 4;
    c.model.g_blocks = 1;
    c.model.d_model = 16;
    c.model.heads = 2;
    c.model.ff = 32;
    c.model.encoder_layers = 1;
    c.model.decoder_layers = 1;
    c.batch_size = 4;
    c.validation_every = 32;
    c.validation_samples = 16;
    c.test_samples = 16;
    c.max_samples = 160;
    c.optimizer.lr = 2e-3;
    c.optimizer.warmup_steps = 5;
}
