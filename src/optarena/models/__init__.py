"""nn.Modules and factories, sized from the datamodule (`in_shape`, `num_classes`); no Lightning."""
