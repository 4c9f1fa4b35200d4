"""The reference answers of the labs' exercises that are not operations of ``dlcourse.functional``.

One module per lab: ``neuron`` (lab 01), ``regression`` (lab 02), ``mlp`` (lab 03), ``training`` (lab 04),
``conv_arithmetic`` (lab 05), ``cnn`` (lab 07), ``architectures`` (lab 08), ``resnet`` (lab 09); lab 06's answers
are operations of ``dlcourse.functional``. The graded exercises compare learners' functions with these (and with
``dlcourse.functional`` for the operations); grading never lets a learner's code reach them.
"""
